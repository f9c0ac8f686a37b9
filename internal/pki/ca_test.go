package pki

import (
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"
)

func newTestCA(t *testing.T) (*CA, []byte) {
	t.Helper()
	ca, keyPEM, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca, keyPEM
}

func TestIssueClient(t *testing.T) {
	ca, _ := newTestCA(t)
	tests := []struct {
		name    string
		cn      string
		groups  []string
		ttl     time.Duration
		wantErr bool
		// wantNotAfter is the expiry expected, given the CA.
		wantNotAfter func(ca *x509.Certificate) time.Time
	}{
		{name: "node", cn: "system:node:n1", groups: []string{"system:nodes"}, ttl: ClientValidity,
			wantNotAfter: func(*x509.Certificate) time.Time { return time.Now().Add(ClientValidity) }},
		{name: "no groups", cn: "alice", ttl: time.Hour,
			wantNotAfter: func(*x509.Certificate) time.Time { return time.Now().Add(time.Hour) }},
		{name: "never outlives the CA", cn: "bob", ttl: 2 * CAValidity,
			wantNotAfter: func(ca *x509.Certificate) time.Time { return ca.NotAfter }},
		{name: "no common name", ttl: time.Hour, wantErr: true},
		{name: "no lifetime", cn: "carol", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.IssueClient(tt.cn, tt.groups, tt.ttl)
			if tt.wantErr {
				if err == nil {
					t.Fatal("IssueClient succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cert, err := parseCert(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			key, err := parseKey(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !keyMatches(cert, key) {
				t.Error("key does not match certificate")
			}
			if cert.Subject.CommonName != tt.cn || !slices.Equal(cert.Subject.Organization, tt.groups) {
				t.Errorf("subject %v", cert.Subject)
			}
			if err := ca.verify(cert, x509.ExtKeyUsageClientAuth, time.Now()); err != nil {
				t.Errorf("clientAuth: %v", err)
			}
			if err := ca.verify(cert, x509.ExtKeyUsageServerAuth, time.Now()); err == nil {
				t.Error("valid for serverAuth")
			}
			if cert.IsCA {
				t.Error("client certificate is a CA")
			}
			if d := cert.NotAfter.Sub(tt.wantNotAfter(ca.Cert)).Abs(); d > time.Minute {
				t.Errorf("NotAfter %v, off by %v", cert.NotAfter, d)
			}
			if d := time.Since(cert.NotBefore); d < backdate-time.Minute || d > backdate+time.Minute {
				t.Errorf("NotBefore %v", cert.NotBefore)
			}
		})
	}
}

func TestIssueServingNeedsAName(t *testing.T) {
	ca, _ := newTestCA(t)
	if _, _, err := ca.IssueServing("x", nil, nil, time.Hour); err == nil {
		t.Fatal("IssueServing without names succeeded")
	}
	certPEM, _, err := ca.IssueServing("x", nil, []net.IP{net.ParseIP("192.0.2.1")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := parseCert(certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "192.0.2.1"}); err != nil {
		t.Error(err)
	}
}

func TestLoadCA(t *testing.T) {
	ca, keyPEM := newTestCA(t)
	other, otherKeyPEM := newTestCA(t)
	leafPEM, leafKeyPEM, err := ca.IssueClient("leaf", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		wantErr         bool
	}{
		{name: "round trip", certPEM: ca.CertPEM, keyPEM: keyPEM},
		{name: "wrong key", certPEM: ca.CertPEM, keyPEM: otherKeyPEM, wantErr: true},
		{name: "not a CA", certPEM: leafPEM, keyPEM: leafKeyPEM, wantErr: true},
		{name: "no certificate", certPEM: keyPEM, keyPEM: keyPEM, wantErr: true},
		{name: "no key", certPEM: ca.CertPEM, keyPEM: ca.CertPEM, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCA(tt.certPEM, tt.keyPEM)
			if tt.wantErr {
				if err == nil {
					t.Fatal("LoadCA succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(ca.Cert) || got.Cert.Equal(other.Cert) {
				t.Error("loaded another CA")
			}
			// The loaded CA signs what the original verifies.
			certPEM, _, err := got.IssueClient("x", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cert, _ := parseCert(certPEM)
			if err := ca.verify(cert, x509.ExtKeyUsageClientAuth, time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
}
