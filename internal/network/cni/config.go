package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

const (
	// FileName is the conflist WriteConfig writes. containerd loads the first config file of
	// its conf_dir in lexical order, and only that one (max_conf_num = 1).
	FileName = "10-gantry.conflist"
	// NetworkName names the network; host-local keeps its leases in IPAMDataDir/NetworkName.
	NetworkName = "gantry"
	// DefaultBridge is the bridge the pods of a node are attached to.
	DefaultBridge = "gantry0"
	// cniVersion is the newest spec both containerd 1.6 (libcni 1.1) and Debian's plugins 1.1.1
	// speak.
	cniVersion = "1.0.0"
)

// Config describes a node's pod network.
type Config struct {
	// PodCIDR is the node's IPv4 pod range; the bridge takes its first address as the gateway.
	PodCIDR netip.Prefix
	// Bridge is the Linux bridge; DefaultBridge if empty.
	Bridge string
	// MTU of the bridge and the pods' interfaces; 0 leaves the plugin's default (1500).
	MTU int
	// IPAMDataDir is where host-local records the addresses it handed out; the plugin's
	// default, /var/lib/cni/networks, if empty. Give every cluster (and test) on a machine its
	// own, or two of them hand out the same addresses.
	IPAMDataDir string
	// DisableIPMasq leaves out the bridge plugin's masquerade of pod traffic leaving the pod
	// range, for when the node's service proxy masquerades traffic leaving the cluster in its
	// own nftables table (the plugin's rules would masquerade pod-to-pod traffic between nodes
	// too).
	DisableIPMasq bool
}

// The conflist, in the shape the plugins read it. Loopback is not listed: containerd's CRI
// plugin sets up lo in every sandbox itself.
type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgePlugin struct {
	Type        string `json:"type"`
	Bridge      string `json:"bridge"`
	IsGateway   bool   `json:"isGateway"`
	IPMasq      bool   `json:"ipMasq"`
	HairpinMode bool   `json:"hairpinMode"`
	MTU         int    `json:"mtu,omitempty"`
	IPAM        ipam   `json:"ipam"`
}

type ipam struct {
	Type    string        `json:"type"`
	Ranges  [][]ipamRange `json:"ranges"`
	Routes  []route       `json:"routes"`
	DataDir string        `json:"dataDir,omitempty"`
}

type ipamRange struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

type route struct {
	Dst string `json:"dst"`
}

type portmapPlugin struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

// Marshal returns the conflist for cfg.
func Marshal(cfg Config) ([]byte, error) {
	if !cfg.PodCIDR.IsValid() || !cfg.PodCIDR.Addr().Is4() {
		return nil, fmt.Errorf("pod CIDR %q: need an IPv4 prefix", cfg.PodCIDR)
	}
	if cfg.PodCIDR.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %s: too small for a gateway and pods", cfg.PodCIDR)
	}
	if cfg.MTU < 0 {
		return nil, fmt.Errorf("MTU %d: must not be negative", cfg.MTU)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("bridge name %q: longer than 15 bytes", cfg.Bridge)
	}
	subnet := cfg.PodCIDR.Masked()
	list := confList{
		CNIVersion: cniVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgePlugin{
				Type:   "bridge",
				Bridge: cfg.Bridge,
				// The bridge holds the gateway address, so the host reaches pods directly.
				IsGateway: true,
				// Traffic from pods to outside the pod range leaves with the node's address,
				// unless the service proxy does that.
				IPMasq: !cfg.DisableIPMasq,
				// A pod reaching itself through a Service address comes back in on its own port.
				HairpinMode: true,
				MTU:         cfg.MTU,
				IPAM: ipam{
					Type:    "host-local",
					Ranges:  [][]ipamRange{{{Subnet: subnet.String(), Gateway: subnet.Addr().Next().String()}}},
					Routes:  []route{{Dst: "0.0.0.0/0"}},
					DataDir: cfg.IPAMDataDir,
				},
			},
			// hostPort mappings; snat so a pod reaching its own node's hostPort is answered.
			portmapPlugin{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}, SNAT: true},
		},
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal CNI config: %w", err)
	}
	return append(data, '\n'), nil
}

// WriteConfig writes dir/FileName for cfg. containerd watches dir and reloads on every change,
// so the file is replaced atomically (and left alone when it already says the same).
func WriteConfig(dir string, cfg Config) error {
	data, err := Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("CNI config dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	// The temporary name does not end in .conf, .conflist or .json, so containerd skips it.
	tmp := filepath.Join(dir, "."+FileName+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	return nil
}
