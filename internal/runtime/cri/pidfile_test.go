package cri

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// stopStale must never signal a process that is not the containerd of this config: pids are
// reused, and the pid file may outlive its process by years.
func TestStopStaleLeavesOtherProcessesAlone(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "containerd.pid")
	configPath := filepath.Join(dir, "config.toml")
	for name, content := range map[string]string{
		"pid of another program": strconv.Itoa(os.Getpid()), // this test binary
		"pid not running":        "2147483646",
		"malformed":              "not a pid",
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(pidPath, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := stopStale(pidPath, configPath, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(pidPath); !os.IsNotExist(err) {
				t.Errorf("pid file still there (%v)", err)
			}
		})
	}
	if err := stopStale(pidPath, configPath, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("no pid file: %v", err)
	}
}
