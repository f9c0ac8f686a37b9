package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// file is one entry of an image's only layer: a regular file, or a symlink to target.
type file struct {
	name   string
	mode   int64
	data   []byte
	target string
	dir    bool
}

// imageOf is a one-layer image of files for linux/arch, run as entrypoint.
func imageOf(files []file, entrypoint []string, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the image's digest the same from build to build.
	modTime := time.Unix(0, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: modTime, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		switch {
		case f.dir:
			h.Typeflag, h.Size, h.Name = tar.TypeDir, 0, f.name+"/"
		case f.target != "":
			h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, f.target
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = arch, "linux"
	cfg.Config.Entrypoint = entrypoint
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cfg)
}

// BuildGo builds the Go main package pkg (a path relative to dir, the module's root) as a
// static linux/amd64 binary and packs it into an image: the binary at /<name> as the
// entrypoint, /bin/<link> symlinks to it for each of links (a multi-call program answering
// to sh, cat, tar…), and a world-writable /tmp. It needs the Go toolchain, so tests and
// benchmarks use it, never the server.
func BuildGo(ctx context.Context, pkg, dir string, links []string) (v1.Image, error) {
	out, err := os.MkdirTemp("", "gantry-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	name := path.Base(pkg)
	bin := filepath.Join(out, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	files := []file{{name: name, mode: 0o755, data: data}, {name: "bin", mode: 0o755, dir: true}, {name: "tmp", mode: 0o1777, dir: true}}
	for _, l := range links {
		files = append(files, file{name: "bin/" + l, mode: 0o777, target: "/" + name})
	}
	return imageOf(files, []string{"/" + name}, "amd64")
}

// Push writes img to ref (host:port/repository:tag) in a registry spoken to over plain HTTP,
// as the cluster's registry is.
func Push(ctx context.Context, img v1.Image, ref string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
