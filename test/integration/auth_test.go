package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryhq/gantry/internal/pki"
)

// httpsClient trusts the cluster CA and presents no client certificate.
func (c *cluster) httpsClient() *http.Client {
	c.t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(c.dataDir, "pki", "ca.crt"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func (c *cluster) get(client *http.Client, path, token string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.config.Host+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestAuthentication(t *testing.T) {
	c := startCluster(t)
	anon := c.httpsClient()

	// Anonymous users may read health, version and discovery, nothing else.
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/api/v1", "/openapi/v3"} {
		if code, body := c.get(anon, path, ""); code != http.StatusOK {
			t.Errorf("anonymous GET %s = %d %s, want 200", path, code, body)
		}
	}
	code, body := c.get(anon, "/api/v1/namespaces/default/pods", "")
	if code != http.StatusForbidden || !strings.Contains(body, `User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"`) {
		t.Errorf("anonymous list pods = %d %s, want 403 with Kubernetes' message", code, body)
	}

	// A wrong bearer token is refused outright.
	if code, body := c.get(anon, "/version", "not-a-token"); code != http.StatusUnauthorized || !strings.Contains(body, `"kind":"Status"`) {
		t.Errorf("bad token = %d %s, want a 401 Status", code, body)
	}

	// The join token authenticates, but grants no access to objects.
	token, err := os.ReadFile(filepath.Join(c.dataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	join, err := pki.ParseToken(string(token))
	if err != nil {
		t.Fatal(err)
	}
	code, body = c.get(anon, "/api/v1/namespaces/default/secrets", join.BearerToken())
	if code != http.StatusForbidden || !strings.Contains(body, "system:bootstrap:"+join.ID) {
		t.Errorf("join token list secrets = %d %s, want 403 naming the bootstrap user", code, body)
	}
}

func TestMetrics(t *testing.T) {
	c := startCluster(t)
	c.kubectl("get", "pods")
	code, body := c.get(c.httpsClient(), "/metrics", "")
	if code == http.StatusOK {
		t.Fatalf("anonymous /metrics = 200, want it refused")
	}
	raw, err := c.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body = string(raw)
	for _, want := range []string{
		`apiserver_request_total{code="200",group="",resource="pods",subresource="",verb="list",version="v1"}`,
		`apiserver_request_duration_seconds_bucket{group="",resource="pods",subresource="",verb="list",version="v1",le=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestProfiling: Go's profiles are served to administrators only, as kube-apiserver's are.
func TestProfiling(t *testing.T) {
	c := startCluster(t)
	if code, _ := c.get(c.httpsClient(), "/debug/pprof/heap", ""); code == http.StatusOK {
		t.Fatal("anonymous /debug/pprof/heap = 200, want it refused")
	}
	raw, err := c.client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/").DoRaw(context.Background())
	if err != nil || !strings.Contains(string(raw), "goroutine") {
		t.Fatalf("/debug/pprof/ as admin: %v\n%.300s", err, raw)
	}
	raw, err = c.client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "1").DoRaw(context.Background())
	if err != nil || len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Fatalf("/debug/pprof/profile as admin: %v, want a gzipped profile (%d bytes)", err, len(raw))
	}
}
