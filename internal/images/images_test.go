package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The generated pause binary runs, stays up, and exits 0 on SIGTERM and on SIGINT.
func TestPauseBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(bin, pauseELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start pause: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("pause exited by itself: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		cmd.Process.Signal(sig)
		if err := <-exited; err != nil {
			t.Errorf("pause after %v: %v, want exit status 0", sig, err)
		}
	}
}

// The pause image has one layer with /pause, executable, as its entrypoint; it pushes to and
// pulls back from a registry.
func TestPauseImage(t *testing.T) {
	img, err := Pause()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "amd64" || cfg.OS != "linux" || strings.Join(cfg.Config.Entrypoint, " ") != "/pause" {
		t.Errorf("config: %s/%s entrypoint %v", cfg.OS, cfg.Architecture, cfg.Config.Entrypoint)
	}
	files := layerFiles(t, img)
	if h := files["pause"]; h == nil || h.Mode != 0o755 || h.Size != int64(len(pauseELF())) {
		t.Errorf("layer: %v", files)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/gantry/pause:1"
	if err := Push(context.Background(), img, ref); err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	got, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull back: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %v, pushed %v", d, want)
	}
	if err := Push(context.Background(), img, "not a reference"); err == nil {
		t.Error("a bad reference was accepted")
	}
}

// BuildGo packs a Go program with its multi-call links and /tmp.
func TestBuildGo(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/hello\n\ngo 1.26\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "hello"), 0o755)
	os.WriteFile(filepath.Join(dir, "hello", "main.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644)
	img, err := BuildGo(context.Background(), "./hello", dir, []string{"sh", "cat"})
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	if h := files["hello"]; h == nil || h.Mode != 0o755 || h.Size == 0 {
		t.Errorf("binary: %+v", h)
	}
	if h := files["bin/sh"]; h == nil || h.Linkname != "/hello" {
		t.Errorf("bin/sh: %+v", h)
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	if _, err := BuildGo(context.Background(), "./missing", dir, nil); err == nil {
		t.Error("a missing package built")
	}
}

// layerFiles are the tar headers of img's filesystem, by name.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}
