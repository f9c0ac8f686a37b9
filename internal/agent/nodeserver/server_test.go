package nodeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/gantryhq/gantry/internal/agent/nodeserver/nodeservertest"
	"github.com/gantryhq/gantry/internal/pki"
)

// fakeStats answers /stats/summary with a fixed summary.
type fakeStats struct{ summary *statsv1alpha1.Summary }

func (f fakeStats) Summary(context.Context) (*statsv1alpha1.Summary, error) { return f.summary, nil }

// harness is a running node server over a fake runtime, and clients with several identities.
type harness struct {
	t       *testing.T
	url     string
	runtime *nodeservertest.Runtime
	ca      *pki.CA
	stop    context.CancelFunc
	done    chan error
}

func start(t *testing.T) *harness {
	t.Helper()
	ca, _, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	rt := nodeservertest.NewRuntime(t)
	s, err := New(Config{
		Runtime:   rt,
		Stats:     fakeStats{&statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "node-1"}}},
		ClientCAs: pool,
		CertDir:   t.TempDir(),
		NodeName:  "node-1",
		NodeIPs:   []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, url: "https://" + ln.Addr().String(), runtime: rt, ca: ca, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

// tlsConfig is a client configuration with a certificate from ca for cn in groups; a nil ca
// means no client certificate.
func (h *harness) tlsConfig(ca *pki.CA, cn string, groups ...string) *tls.Config {
	h.t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if ca != nil {
		certPEM, keyPEM, err := ca.IssueClient(cn, groups, time.Hour)
		if err != nil {
			h.t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			h.t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// apiserverTLS is the identity the API server presents.
func (h *harness) apiserverTLS() *tls.Config {
	return h.tlsConfig(h.ca, pki.KubeletClientUser, pki.GroupMasters)
}

func (h *harness) get(ctx context.Context, cfg *tls.Config, path string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// getText returns the status and body of a GET as the API server.
func (h *harness) getText(path string) (int, string) {
	h.t.Helper()
	resp := h.get(context.Background(), h.apiserverTLS(), path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestAuthentication(t *testing.T) {
	h := start(t)
	other, _, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     *tls.Config
		code    int
		message string
	}{
		{"no certificate", h.tlsConfig(nil, ""), http.StatusUnauthorized, "Unauthorized"},
		{"certificate of another CA", h.tlsConfig(other, pki.KubeletClientUser, pki.GroupMasters), http.StatusUnauthorized, "Unauthorized"},
		{"not in system:masters", h.tlsConfig(h.ca, "system:node:node-2", "system:nodes"), http.StatusForbidden,
			"Forbidden (user=system:node:node-2, verb=get, resource=nodes, subresource=stats)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(context.Background(), tt.tls, "/stats/summary")
			defer resp.Body.Close()
			var status metav1.Status
			if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || status.Kind != "Status" || int(status.Code) != tt.code || status.Message != tt.message {
				t.Errorf("got %d %+v, want %d %q", resp.StatusCode, status, tt.code, tt.message)
			}
		})
	}
	t.Run("kubelet client", func(t *testing.T) {
		code, body := h.getText("/stats/summary")
		var summary statsv1alpha1.Summary
		if err := json.Unmarshal([]byte(body), &summary); code != http.StatusOK || err != nil || summary.Node.NodeName != "node-1" {
			t.Errorf("got %d %s (%v)", code, body, err)
		}
		if code, body := h.getText("/healthz"); code != http.StatusOK || body != "ok" {
			t.Errorf("healthz: %d %q", code, body)
		}
	})
}

func TestServingCertificateIsKept(t *testing.T) {
	dir := t.TempDir()
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	first, err := ensureServingCert(dir, "node-1", ips, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := ensureServingCert(dir, "node-1", ips, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificate[0]) != string(first.Certificate[0]) {
		t.Error("a good certificate was replaced")
	}
	moved, err := ensureServingCert(dir, "node-1", []net.IP{net.ParseIP("127.0.0.2")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(moved.Certificate[0])
	if leaf.VerifyHostname("127.0.0.2") != nil || leaf.VerifyHostname("node-1") != nil {
		t.Errorf("new address: certificate names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if _, err := os.Stat(filepath.Join(dir, "agent.key")); err != nil {
		t.Error(err)
	}
}

func TestStatsAuthenticatedButBrokenPath(t *testing.T) {
	h := start(t)
	if code, _ := h.getText("/stats/other"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, body := h.getText("/containerLogs/default/missing/app"); code != http.StatusNotFound || !strings.Contains(body, `pod "missing" does not exist`) {
		t.Errorf("missing pod: %d %q", code, body)
	}
}
