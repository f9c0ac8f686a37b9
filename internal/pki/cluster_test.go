package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeHost stands in for the host's name and interface addresses.
func fakeHost(hostname string, addrs ...string) func() (string, []net.IP, error) {
	return func() (string, []net.IP, error) {
		var ips []net.IP
		for _, a := range addrs {
			ips = append(ips, net.ParseIP(a))
		}
		return hostname, ips, nil
	}
}

func ensure(t *testing.T, dir string, opts Options) *Cluster {
	t.Helper()
	c, err := EnsureCluster(dir, opts)
	if err != nil {
		t.Fatalf("EnsureCluster: %v", err)
	}
	return c
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCert(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func roots(c *Cluster) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CA.Cert)
	return p
}

// verifyFor checks that cert chains to the cluster CA for usage and, if name is not
// empty, is valid for name.
func verifyFor(c *Cluster, cert *x509.Certificate, usage x509.ExtKeyUsage, name string) error {
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots(c), DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestEnsureClusterCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := ensure(t, dir, Options{
		lookupHost: fakeHost("Node-1", "192.0.2.10", "2001:db8::10"),
		ExtraSANs:  []string{"api.example.com", "203.0.113.7"},
	})
	p := c.Paths

	t.Run("files", func(t *testing.T) {
		for path, mode := range map[string]os.FileMode{
			p.PKIDir: 0o700 | os.ModeDir, p.CAKey: 0o600, p.ServerKey: 0o600, p.AdminKey: 0o600, p.Token: 0o600,
			p.CACert: 0o644, p.ServerCert: 0o644, p.AdminCert: 0o644,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != mode {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
			}
		}
		if p.PKIDir != filepath.Join(dir, "pki") || p.Token != filepath.Join(dir, "token") || p.AdminKubeconfig != filepath.Join(dir, "admin.kubeconfig") {
			t.Errorf("paths: %+v", p)
		}
		if _, err := os.Stat(p.AdminKubeconfig); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("admin.kubeconfig written without a port: %v", err)
		}
		want := []string{"ca.crt: created", "server.crt: created", "admin.crt: created", "apiserver-kubelet-client.crt: created", "token: created"}
		if !slices.Equal(c.Changed, want) {
			t.Errorf("Changed = %q, want %q", c.Changed, want)
		}
	})

	t.Run("CA", func(t *testing.T) {
		ca := c.CA.Cert
		if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("not a CA: IsCA=%v usage=%v", ca.IsCA, ca.KeyUsage)
		}
		pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
		}
		if life := ca.NotAfter.Sub(ca.NotBefore); life < CAValidity || life > CAValidity+time.Hour {
			t.Errorf("CA lifetime %v, want %v", life, CAValidity)
		}
		if !bytes.Equal(readCert(t, p.CACert).Raw, ca.Raw) {
			t.Error("ca.crt differs from the loaded CA")
		}
	})

	t.Run("serving", func(t *testing.T) {
		cert := readCert(t, p.ServerCert)
		if !bytes.Equal(c.ServingCert.Certificate[0], cert.Raw) {
			t.Fatal("ServingCert is not server.crt")
		}
		if n := len(c.ServingCert.Certificate); n != 2 || !bytes.Equal(c.ServingCert.Certificate[1], c.CA.Cert.Raw) {
			t.Errorf("serving chain has %d certificates, want leaf and CA", n)
		}
		if life := cert.NotAfter.Sub(cert.NotBefore); life < ServingValidity || life > ServingValidity+time.Hour {
			t.Errorf("serving lifetime %v, want %v", life, ServingValidity)
		}
		for _, name := range []string{
			"node-1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local", "127.0.0.1", "::1", "100.65.0.1",
			"192.0.2.10", "2001:db8::10", "api.example.com", "203.0.113.7",
		} {
			if err := verifyFor(c, cert, x509.ExtKeyUsageServerAuth, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if err := verifyFor(c, cert, x509.ExtKeyUsageServerAuth, "other.example.com"); err == nil {
			t.Error("valid for a name it should not carry")
		}
		if err := verifyFor(c, cert, x509.ExtKeyUsageClientAuth, ""); err == nil {
			t.Error("serving certificate is valid for clientAuth")
		}
	})

	t.Run("admin", func(t *testing.T) {
		cert := readCert(t, p.AdminCert)
		if cert.Subject.CommonName != "gantry-admin" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
			t.Errorf("subject %v", cert.Subject)
		}
		if err := verifyFor(c, cert, x509.ExtKeyUsageClientAuth, ""); err != nil {
			t.Error(err)
		}
		if err := verifyFor(c, cert, x509.ExtKeyUsageServerAuth, ""); err == nil {
			t.Error("admin certificate is valid for serverAuth")
		}
	})

	t.Run("kubelet client", func(t *testing.T) {
		cert := readCert(t, p.KubeletClientCert)
		if cert.Subject.CommonName != "kube-apiserver-kubelet-client" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
			t.Errorf("subject %v", cert.Subject)
		}
		if err := verifyFor(c, cert, x509.ExtKeyUsageClientAuth, ""); err != nil {
			t.Error(err)
		}
		if len(c.KubeletClientCert.Certificate) == 0 || !bytes.Equal(c.KubeletClientCert.Certificate[0], cert.Raw) {
			t.Error("Cluster.KubeletClientCert is not the certificate on disk")
		}
	})

	t.Run("token", func(t *testing.T) {
		data, err := os.ReadFile(p.Token)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ParseToken(string(data))
		if err != nil {
			t.Fatal(err)
		}
		if !tok.Equal(c.Token) || !tok.MatchesCA(c.CA.Cert) {
			t.Errorf("token file %q does not match the cluster (%v)", data, c.Token)
		}
	})
}

func TestEnsureClusterNames(t *testing.T) {
	hostname, addrs, err := lookupHost()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		want    []string
		wantErr bool
	}{
		{
			name: "this host",
			want: append([]string{strings.ToLower(hostname)}, ipStrings(addrs)...),
		},
		{
			name: "dual-stack service range and own domain",
			opts: Options{ServiceCIDR: "10.96.0.0/12, fd00:10:96::/112", ClusterDomain: "corp.example.", lookupHost: fakeHost("h")},
			want: []string{"10.96.0.1", "fd00:10:96::1", "kubernetes.default.svc.corp.example"},
		},
		{
			name:    "bad service range",
			opts:    Options{ServiceCIDR: "100.65.0.0", lookupHost: fakeHost("h")},
			wantErr: true,
		},
		{
			name:    "host lookup fails",
			opts:    Options{lookupHost: func() (string, []net.IP, error) { return "", nil, errors.New("no host") }},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := EnsureCluster(t.TempDir(), tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatal("EnsureCluster succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tt.want {
				if err := verifyFor(c, c.ServingCert.Leaf, x509.ExtKeyUsageServerAuth, name); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// snapshot is every file EnsureCluster writes.
func snapshot(t *testing.T, p Paths) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, path := range []string{p.CACert, p.CAKey, p.ServerCert, p.ServerKey, p.AdminCert, p.AdminKey, p.Token} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(path)] = data
	}
	return files
}

func TestEnsureClusterRestartReuses(t *testing.T) {
	dir := t.TempDir()
	opts := Options{lookupHost: fakeHost("node-1", "192.0.2.10"), ExtraSANs: []string{"api.example.com"}}
	first := ensure(t, dir, opts)
	before := snapshot(t, first.Paths)

	// Fewer names than before is no reason to reissue: an interface may be down.
	opts.lookupHost = fakeHost("node-1")
	second := ensure(t, dir, opts)
	if len(second.Changed) != 0 {
		t.Errorf("restart changed %q", second.Changed)
	}
	after := snapshot(t, second.Paths)
	for name, data := range before {
		if !bytes.Equal(data, after[name]) {
			t.Errorf("%s was rewritten", name)
		}
	}
	if second.CA.Cert.SerialNumber.Cmp(first.CA.Cert.SerialNumber) != 0 || CAHash(second.CA.Cert) != CAHash(first.CA.Cert) {
		t.Error("CA changed")
	}
	if !bytes.Equal(second.ServingCert.Certificate[0], first.ServingCert.Certificate[0]) {
		t.Error("serving certificate changed")
	}
	if !second.Token.Equal(first.Token) {
		t.Error("token changed")
	}
}

func TestEnsureClusterReissuesServing(t *testing.T) {
	base := Options{lookupHost: fakeHost("node-1", "192.0.2.10")}
	tests := []struct {
		name string
		// change alters the data directory or the options of the second start.
		change func(t *testing.T, c *Cluster, opts *Options)
		// names must be in the new certificate.
		names  []string
		reason string
	}{
		{
			name: "new host address",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				opts.lookupHost = fakeHost("node-1", "192.0.2.10", "198.51.100.4")
			},
			names:  []string{"198.51.100.4"},
			reason: "missing names 198.51.100.4",
		},
		{
			name:   "new extra SAN",
			change: func(t *testing.T, c *Cluster, opts *Options) { opts.ExtraSANs = []string{"api.example.com"} },
			names:  []string{"api.example.com"},
			reason: "missing names api.example.com",
		},
		{
			name: "names kept when one is added and another is gone",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				opts.lookupHost = fakeHost("node-1", "198.51.100.4")
			},
			names:  []string{"198.51.100.4", "192.0.2.10"},
			reason: "missing names 198.51.100.4",
		},
		{
			name: "expires soon",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				certPEM, keyPEM, err := c.CA.IssueServing(ServingCommonName, []string{"node-1"}, nil, 10*24*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if err := writePair(c.Paths.ServerCert, c.Paths.ServerKey, certPEM, keyPEM); err != nil {
					t.Fatal(err)
				}
			},
			reason: "expires at",
		},
		{
			name: "key does not match",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				_, keyPEM, err := newKey()
				if err != nil {
					t.Fatal(err)
				}
				if err := writeFile(c.Paths.ServerKey, keyPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			reason: "key does not match certificate",
		},
		{
			name: "issued by another CA",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				other, _, err := NewCA("other")
				if err != nil {
					t.Fatal(err)
				}
				certPEM, keyPEM, err := other.IssueServing(ServingCommonName, []string{"node-1"}, nil, time.Hour*24*365)
				if err != nil {
					t.Fatal(err)
				}
				if err := writePair(c.Paths.ServerCert, c.Paths.ServerKey, certPEM, keyPEM); err != nil {
					t.Fatal(err)
				}
			},
			reason: "not issued by the cluster CA",
		},
		{
			name: "client certificate in its place",
			change: func(t *testing.T, c *Cluster, opts *Options) {
				certPEM, keyPEM, err := c.CA.IssueClient("node-1", nil, time.Hour*24*365)
				if err != nil {
					t.Fatal(err)
				}
				if err := writePair(c.Paths.ServerCert, c.Paths.ServerKey, certPEM, keyPEM); err != nil {
					t.Fatal(err)
				}
			},
			reason: "incompatible key usage",
		},
		{
			name:   "key removed",
			change: func(t *testing.T, c *Cluster, opts *Options) { os.Remove(c.Paths.ServerKey) },
			reason: "created",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := ensure(t, dir, base)
			before := snapshot(t, first.Paths)
			opts := base
			tt.change(t, first, &opts)
			second := ensure(t, dir, opts)

			if len(second.Changed) != 1 || !strings.HasPrefix(second.Changed[0], "server.crt: ") || !strings.Contains(second.Changed[0], tt.reason) {
				t.Errorf("Changed = %q, want server.crt with %q", second.Changed, tt.reason)
			}
			after := snapshot(t, second.Paths)
			for _, name := range []string{"ca.crt", "ca.key", "admin.crt", "admin.key", "token"} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed", name)
				}
			}
			cert := readCert(t, second.Paths.ServerCert)
			if cert.SerialNumber.Cmp(first.ServingCert.Leaf.SerialNumber) == 0 {
				t.Fatal("serving certificate was not reissued")
			}
			if !bytes.Equal(second.ServingCert.Certificate[0], cert.Raw) {
				t.Error("ServingCert is not the new server.crt")
			}
			for _, name := range append([]string{"node-1", "kubernetes.default.svc", "100.65.0.1"}, tt.names...) {
				if err := verifyFor(second, cert, x509.ExtKeyUsageServerAuth, name); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			if life := time.Until(cert.NotAfter); life < ServingValidity-time.Hour {
				t.Errorf("new certificate expires in %v", life)
			}

			third := ensure(t, dir, opts)
			if len(third.Changed) != 0 {
				t.Errorf("third start changed %q", third.Changed)
			}
		})
	}
}

func TestEnsureClusterAdminReissued(t *testing.T) {
	dir := t.TempDir()
	opts := Options{lookupHost: fakeHost("node-1")}
	first := ensure(t, dir, opts)
	certPEM, keyPEM, err := first.CA.IssueClient("someone", []string{"system:masters"}, ClientValidity)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePair(first.Paths.AdminCert, first.Paths.AdminKey, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	second := ensure(t, dir, opts)
	if want := []string{"admin.crt: reissued: subject is not gantry-admin in system:masters"}; !slices.Equal(second.Changed, want) {
		t.Errorf("Changed = %q, want %q", second.Changed, want)
	}
	if cn := readCert(t, second.Paths.AdminCert).Subject.CommonName; cn != AdminUser {
		t.Errorf("admin CN %q", cn)
	}
}

func TestEnsureClusterState(t *testing.T) {
	opts := Options{lookupHost: fakeHost("node-1")}
	tests := []struct {
		name string
		// change alters the data directory of a running cluster before a restart.
		change func(t *testing.T, p Paths)
		// wantErr is a substring of the error; "" means the restart succeeds.
		wantErr string
		// newCA says whether the restart must have made a new CA, and with it everything.
		newCA bool
	}{
		{
			name:    "CA key lost",
			change:  func(t *testing.T, p Paths) { os.Remove(p.CAKey) },
			wantErr: "restore the CA key",
		},
		{
			name: "CA key does not match",
			change: func(t *testing.T, p Paths) {
				_, keyPEM, _ := newKey()
				writeFile(p.CAKey, keyPEM, 0o600)
			},
			wantErr: "CA key does not match",
		},
		{
			name:    "token garbled",
			change:  func(t *testing.T, p Paths) { writeFile(p.Token, []byte("nonsense\n"), 0o600) },
			wantErr: "invalid join token",
		},
		{
			name: "token of another CA",
			change: func(t *testing.T, p Paths) {
				tok := Token{CAHash: strings.Repeat("ab", 32), ID: "abc123", Secret: "0123456789abcdef"}
				writeFile(p.Token, []byte(tok.String()), 0o600)
			},
			wantErr: "names another CA",
		},
		{
			name:   "token removed",
			change: func(t *testing.T, p Paths) { os.Remove(p.Token) },
		},
		{
			name: "first start interrupted after writing ca.key",
			change: func(t *testing.T, p Paths) {
				for _, path := range []string{p.CACert, p.ServerCert, p.ServerKey, p.AdminCert, p.AdminKey, p.Token} {
					os.Remove(path)
				}
			},
			newCA: true,
		},
		{
			name:   "CA removed to start afresh",
			change: func(t *testing.T, p Paths) { os.Remove(p.CACert); os.Remove(p.CAKey) },
			newCA:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := ensure(t, dir, opts)
			tt.change(t, first.Paths)
			second, err := EnsureCluster(dir, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EnsureCluster error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := CAHash(second.CA.Cert) != CAHash(first.CA.Cert); got != tt.newCA {
				t.Errorf("new CA: %v, want %v", got, tt.newCA)
			}
			if !second.Token.MatchesCA(second.CA.Cert) {
				t.Error("token does not name the CA")
			}
			for _, cert := range []*x509.Certificate{second.ServingCert.Leaf, readCert(t, second.Paths.AdminCert)} {
				if err := cert.CheckSignatureFrom(second.CA.Cert); err != nil {
					t.Errorf("%s: %v", cert.Subject.CommonName, err)
				}
			}
		})
	}
}
