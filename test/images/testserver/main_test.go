package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// What `kubectl cp` runs: tar cf - /dir/file in the container, tar -xmf - -C dest to write.
func TestTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("alpha"), 0o640)
	var buf bytes.Buffer
	if err := writeTar(&buf, []string{filepath.Join(src, "sub")}); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if err := readTar(&buf, dest); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dest, src, "sub", "a.txt"))
	if err != nil || string(got) != "alpha" {
		t.Fatalf("extracted %q, %v", got, err)
	}
	if st, _ := os.Stat(filepath.Join(dest, src, "sub", "a.txt")); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestShell(t *testing.T) {
	for cmd, want := range map[string]int{"exit 7": 7, "exit": 0, "test -d /": 0, "test -f /": 1, "nope": 127} {
		if got := sh([]string{"-c", cmd}); got != want {
			t.Errorf("sh -c %q = %d, want %d", cmd, got, want)
		}
	}
	if got := sh([]string{"x"}); got != 2 {
		t.Errorf("sh without -c = %d", got)
	}
}
