package cni

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnableForwarding(t *testing.T) {
	setting := func(t *testing.T, procSys, name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(procSys, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	fakeProcSys := func(t *testing.T, bridge bool) string {
		t.Helper()
		procSys := t.TempDir()
		files := []string{"net/ipv4/ip_forward"}
		if bridge {
			files = append(files, "net/bridge/bridge-nf-call-iptables")
		}
		for _, f := range files {
			path := filepath.Join(procSys, f)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return procSys
	}

	t.Run("with br_netfilter", func(t *testing.T) {
		procSys := fakeProcSys(t, true)
		if err := enableForwarding(procSys); err != nil {
			t.Fatal(err)
		}
		if got := setting(t, procSys, "net/ipv4/ip_forward"); got != "1" {
			t.Errorf("ip_forward = %q, want 1", got)
		}
		if got := setting(t, procSys, "net/bridge/bridge-nf-call-iptables"); got != "1" {
			t.Errorf("bridge-nf-call-iptables = %q, want 1", got)
		}
	})
	t.Run("without br_netfilter", func(t *testing.T) {
		procSys := fakeProcSys(t, false)
		if err := enableForwarding(procSys); err != nil {
			t.Fatal(err)
		}
		if got := setting(t, procSys, "net/ipv4/ip_forward"); got != "1" {
			t.Errorf("ip_forward = %q, want 1", got)
		}
		if _, err := os.Stat(filepath.Join(procSys, "net/bridge")); err == nil {
			t.Error("net/bridge was created")
		}
	})
	t.Run("this machine", func(t *testing.T) {
		if err := EnableForwarding(); err != nil {
			t.Fatal(err)
		}
		if got := setting(t, "/proc/sys", "net/ipv4/ip_forward"); got != "1\n" {
			t.Errorf("net.ipv4.ip_forward = %q after EnableForwarding, want 1", got)
		}
	})
}
