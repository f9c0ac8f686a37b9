package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A containerd that cannot start makes StartContainerd fail at once, saying why, and leaves no
// pid file for the next start to chase.
func TestStartContainerdFails(t *testing.T) {
	for name, tt := range map[string]struct{ bin, want string }{
		"exits at once":  {bin: "false", want: "containerd exit status 1"},
		"missing binary": {bin: "/nonexistent/containerd", want: "no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := ContainerdConfig{Dir: filepath.Join(dir, "containerd"), CNIConfDir: filepath.Join(dir, "net.d"), Bin: tt.bin}
			c, err := StartContainerd(t.Context(), cfg)
			if err == nil {
				c.Stop()
				t.Fatal("StartContainerd succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(cfg.Dir, "containerd.pid")); !os.IsNotExist(err) {
				t.Errorf("pid file left behind (%v)", err)
			}
		})
	}
}
