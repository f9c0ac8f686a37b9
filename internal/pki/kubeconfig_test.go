package pki

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/internal/auth/authn"
)

// apiServer starts a TLS server that serves the cluster's certificate, asks for client
// certificates as the real server does, and answers with the authenticated user.
func apiServer(t *testing.T, c *Cluster) *httptest.Server {
	t.Helper()
	auth := authn.Union{authn.NewX509(c.ClientCAs), authn.NewTokens(map[string]*authn.User{c.Token.BearerToken(): {Name: "system:bootstrap:" + c.Token.ID, Groups: []string{GroupBootstrappers}}})}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := auth.AuthenticateRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if !ok {
			u = authn.AnonymousUser()
		}
		json.NewEncoder(w).Encode(u)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{c.ServingCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    c.ClientCAs,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func whoami(t *testing.T, config *rest.Config, server string) authn.User {
	t.Helper()
	rt, err := rest.TransportFor(config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(server + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	var u authn.User
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAdminKubeconfig(t *testing.T) {
	c := ensure(t, t.TempDir(), Options{lookupHost: fakeHost("node-1")})
	srv := apiServer(t, c)
	path := filepath.Join(t.TempDir(), "sub", "admin.kubeconfig")
	if err := c.WriteAdminKubeconfig(path, srv.URL); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o600 {
		t.Fatalf("kubeconfig: %v %v", fi.Mode(), err)
	}

	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != "gantry" || raw.Clusters["gantry"].Server != srv.URL || !bytes.Equal(raw.Clusters["gantry"].CertificateAuthorityData, c.CA.CertPEM) {
		t.Errorf("kubeconfig: current context %q, clusters %v", raw.CurrentContext, raw.Clusters)
	}

	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	u := whoami(t, config, srv.URL)
	if u.Name != "gantry-admin" || !slices.Equal(u.Groups, []string{"system:masters", "system:authenticated"}) {
		t.Errorf("authenticated as %+v", u)
	}

	// The join token's bearer part authenticates (the server reads it from a Secret).
	anon := rest.AnonymousClientConfig(config)
	if u := whoami(t, anon, srv.URL); u.Name != authn.Anonymous {
		t.Errorf("without credentials: %+v", u)
	}
	anon.BearerToken = c.Token.BearerToken()
	if u := whoami(t, anon, srv.URL); u.Name != "system:bootstrap:"+c.Token.ID || !slices.Equal(u.Groups, []string{GroupBootstrappers, authn.GroupAuthenticated}) {
		t.Errorf("with the join token: %+v", u)
	}
}

// TestEnsureClusterWritesKubeconfig checks that with a port EnsureCluster writes a working
// admin.kubeconfig for https://127.0.0.1:port itself.
func TestEnsureClusterWritesKubeconfig(t *testing.T) {
	dir := t.TempDir()
	c := ensure(t, dir, Options{lookupHost: fakeHost("node-1")})
	srv := apiServer(t, c)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	ensure(t, dir, Options{lookupHost: fakeHost("node-1"), Port: port})

	config, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://127.0.0.1:" + u.Port(); config.Host != want {
		t.Errorf("server %q, want %q", config.Host, want)
	}
	if got := whoami(t, config, srv.URL); got.Name != AdminUser {
		t.Errorf("authenticated as %+v", got)
	}
}
