package cli

import (
	"archive/tar"
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gantryhq/gantry/internal/registryserver"
)

func TestMapImageName(t *testing.T) {
	for _, tc := range []struct{ image, push, user string }{
		{"nginx:1.27", "reg:5000/docker.io/library/nginx:1.27", "nginx:1.27"},
		{"nginx", "reg:5000/docker.io/library/nginx:latest", "nginx:latest"},
		{"docker.io/library/nginx:1.27", "reg:5000/docker.io/library/nginx:1.27", "nginx:1.27"},
		{"index.docker.io/library/redis:7", "reg:5000/docker.io/library/redis:7", "redis:7"},
		{"bitnami/redis:7", "reg:5000/docker.io/bitnami/redis:7", "bitnami/redis:7"},
		{"quay.io/a/b:t", "reg:5000/quay.io/a/b:t", "quay.io/a/b:t"},
		{"registry.k8s.io/pause:3.10", "reg:5000/registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"localhost:5000/x:y", "reg:5000/x:y", "localhost:5000/x:y"},
		{"localhost:5000/gantry/pause:1", "reg:5000/gantry/pause:1", "localhost:5000/gantry/pause:1"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "reg:5000/docker.io/library/busybox@sha256:" + strings.Repeat("a", 64), "busybox@sha256:" + strings.Repeat("a", 64)},
	} {
		t.Run(tc.image, func(t *testing.T) {
			got, err := mapImageName(tc.image, "reg:5000")
			if err != nil {
				t.Fatalf("mapImageName: %v", err)
			}
			if got.ref.String() != tc.push || got.userName != tc.user {
				t.Errorf("%s → push %s, user name %s; want %s, %s", tc.image, got.ref, got.userName, tc.push, tc.user)
			}
		})
	}
	for _, bad := range []string{"Upper/Case:1", "myreg:5001/x:y", "nginx:"} {
		if got, err := mapImageName(bad, "reg:5000"); err == nil {
			t.Errorf("%s mapped to %s, want an error", bad, got.ref)
		}
	}
}

// startRegistry serves a registry for the test and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	g, err := registryserver.New(t.TempDir(), registryserver.Options{OwnNames: []string{"localhost:5000"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pulledDigest pulls ref from the registry and returns its digest.
func pulledDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d
}

func TestImportDockerArchive(t *testing.T) {
	reg := startRegistry(t)
	nginx, _ := random.Image(2048, 2)
	app, _ := random.Image(1024, 1)
	refs := map[name.Reference]v1.Image{}
	for tag, img := range map[string]v1.Image{"nginx:1.27": nginx, "nginx:latest": nginx, "quay.io/a/b:t": app, "localhost:5000/x:y": app} {
		ref, err := name.ParseReference(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[ref] = img
	}
	file := filepath.Join(t.TempDir(), "images.tar")
	if err := tarball.MultiRefWriteToFile(file, refs); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cmd := newImageCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"import", file, "--registry", reg})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("gantry image import: %v", err)
	}
	printed := strings.Fields(out.String())
	for _, want := range []string{"nginx:1.27", "nginx:latest", "quay.io/a/b:t", "localhost:5000/x:y"} {
		if !contains(printed, want) {
			t.Errorf("import printed %q, missing %s", printed, want)
		}
	}
	nginxDigest, _ := nginx.Digest()
	appDigest, _ := app.Digest()
	for ref, want := range map[string]v1.Hash{
		reg + "/docker.io/library/nginx:1.27":   nginxDigest,
		reg + "/docker.io/library/nginx:latest": nginxDigest,
		reg + "/quay.io/a/b:t":                  appDigest,
		reg + "/x:y":                            appDigest,
	} {
		if got := pulledDigest(t, ref); got != want {
			t.Errorf("%s is %s, want %s", ref, got, want)
		}
	}
}

func TestImportOCILayout(t *testing.T) {
	reg := startRegistry(t)
	img, _ := random.Image(1024, 2)
	multi, _ := random.Index(512, 1, 2)
	dir := t.TempDir()
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Annotations: map[string]string{"io.containerd.image.name": "docker.io/library/alpine:3.20"}}},
		mutate.IndexAddendum{Add: multi, Descriptor: v1.Descriptor{Annotations: map[string]string{"org.opencontainers.image.ref.name": "ghcr.io/o/multi:v2"}}},
	)
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "layout.tar")
	writeTar(t, dir, file)

	names, err := importImages(file, reg)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if strings.Join(names, " ") != "alpine:3.20 ghcr.io/o/multi:v2" {
		t.Errorf("imported %q", names)
	}
	want, _ := img.Digest()
	if got := pulledDigest(t, reg+"/docker.io/library/alpine:3.20"); got != want {
		t.Errorf("alpine is %s, want %s", got, want)
	}
	ref, _ := name.ParseReference(reg+"/ghcr.io/o/multi:v2", name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("get index: %v", err)
	}
	if wantIdx, _ := multi.Digest(); desc.Digest != wantIdx {
		t.Errorf("multi is %s, want %s", desc.Digest, wantIdx)
	}
}

func TestImportRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "empty.tar")
	writeTar(t, t.TempDir(), file)
	if _, err := importImages(file, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "neither a docker-archive") {
		t.Errorf("import of an empty tarball: %v", err)
	}
}

func TestPrintImages(t *testing.T) {
	var out bytes.Buffer
	err := printImages(&out, []imageRow{
		{names: []string{"localhost:5000/gantry/pause@sha256:aa", "localhost:5000/gantry/pause:1"}, size: 312_000, node: "n2"},
		{names: []string{"localhost:5000/gantry/pause@sha256:aa", "localhost:5000/gantry/pause:1"}, size: 312_000, node: "n1"},
		{names: []string{"docker.io/library/nginx@sha256:bb"}, size: 72_500_000, node: "n1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "IMAGE                               SIZE     NODES\n" +
		"docker.io/library/nginx@sha256:bb   72.5MB   n1\n" +
		"localhost:5000/gantry/pause:1       312kB    n1,n2\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeTar packs dir into the tarball file.
func writeTar(t *testing.T, dir, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
