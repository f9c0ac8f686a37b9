package bootstrap

import (
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/pki"
)

func TestCheckCredentials(t *testing.T) {
	ca, _, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	token, err := pki.NewToken(ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _ := pki.NewToken(other.Cert)
	config := func(ca, issuer *pki.CA, cn string, ttl time.Duration) *rest.Config {
		certPEM, keyPEM, err := issuer.IssueClient(cn, []string{GroupNodes}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: certPEM, KeyData: keyPEM}}
	}
	good := config(ca, ca, "system:node:n1", 24*time.Hour)
	mismatched := config(ca, ca, "system:node:n1", 24*time.Hour)
	mismatched.TLSClientConfig.KeyData = config(ca, ca, "system:node:n1", 24*time.Hour).TLSClientConfig.KeyData
	now := time.Now()
	tests := []struct {
		name  string
		cfg   *rest.Config
		token *pki.Token
		now   time.Time
		want  string
	}{
		{name: "good", cfg: good, now: now},
		{name: "good with its token", cfg: good, token: &token, now: now},
		{name: "token of another cluster", cfg: good, token: &otherToken, now: now, want: "not the one the token names"},
		{name: "expired", cfg: good, now: now.Add(48 * time.Hour), want: "client certificate"},
		{name: "expiring within the hour", cfg: config(ca, ca, "system:node:n1", 30*time.Minute), now: now, want: "expires at"},
		{name: "another node", cfg: config(ca, ca, "system:node:n2", 24*time.Hour), now: now, want: "not system:node:n1"},
		{name: "signed by another CA", cfg: config(ca, other, "system:node:n1", 24*time.Hour), now: now, want: "client certificate"},
		{name: "key of another certificate", cfg: mismatched, now: now, want: "client key"},
		{name: "no certificate", cfg: &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}, now: now, want: "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkCredentials(tt.cfg, tt.token, "system:node:n1", tt.now)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkCredentials = %q, want %q", got, tt.want)
			}
		})
	}
}
