package integration

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestServerRegistry pushes an image to the server's embedded registry and pulls it back,
// by tag and, as containerd does when it mirrors docker.io, through ?ns=.
func TestServerRegistry(t *testing.T) {
	c := startCluster(t)
	if c.server.RegistryAddr == "" {
		t.Fatal("the server reports no registry address")
	}
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(c.server.RegistryAddr+"/docker.io/library/nginx:1.27", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s, pushed %s", d, want)
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		if _, err := l.Compressed(); err != nil {
			t.Errorf("pull layer: %v", err)
		}
	}
}
