package simulate

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/pki"
)

func TestTokenConfig(t *testing.T) {
	cluster, err := pki.EnsureCluster(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var gotAuth string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Write([]byte("ok"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cluster.ServingCert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	cfg, err := TokenConfig(ctx, srv.URL, cluster.Token.String())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.CAData, cluster.CA.CertPEM) || cfg.BearerToken != cluster.Token.BearerToken() || cfg.Insecure {
		t.Errorf("config = %+v", cfg)
	}
	// The pinned CA verifies the server in the usual way, and the token goes as a bearer token.
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotAuth != "Bearer "+cluster.Token.BearerToken() {
		t.Errorf("Authorization = %q", gotAuth)
	}

	// A token naming another CA is refused before anything is sent.
	other, err := pki.EnsureCluster(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gotAuth = ""
	if _, err := TokenConfig(ctx, srv.URL, other.Token.String()); err == nil || !strings.Contains(err.Error(), "CA") {
		t.Errorf("token of another cluster: err = %v", err)
	}
	if gotAuth != "" {
		t.Error("a request reached the server")
	}
	for _, bad := range []string{"http://127.0.0.1:1", "127.0.0.1:6443"} {
		if _, err := TokenConfig(ctx, bad, cluster.Token.String()); err == nil {
			t.Errorf("TokenConfig(%q) succeeded", bad)
		}
	}
	if _, err := TokenConfig(ctx, srv.URL, "gantry1.nope"); err == nil {
		t.Error("a malformed token was accepted")
	}
}
