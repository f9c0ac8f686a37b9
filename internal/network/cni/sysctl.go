package cni

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnableForwarding turns on IPv4 forwarding, without which pods reach nothing beyond the node,
// and, where the br_netfilter module is loaded, makes bridged pod-to-pod traffic pass the
// IPv4 netfilter hooks, so Service rules apply to it. There is no modprobe here: if the module
// is absent the setting is skipped.
func EnableForwarding() error { return enableForwarding("/proc/sys") }

func enableForwarding(procSys string) error {
	if err := os.WriteFile(filepath.Join(procSys, "net/ipv4/ip_forward"), []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable net.ipv4.ip_forward: %w", err)
	}
	err := os.WriteFile(filepath.Join(procSys, "net/bridge/bridge-nf-call-iptables"), []byte("1"), 0o644)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("enable net.bridge.bridge-nf-call-iptables: %w", err)
	}
	return nil
}
