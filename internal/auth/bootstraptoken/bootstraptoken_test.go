package bootstraptoken

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestGenerateParse(t *testing.T) {
	id, secret, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	gotID, gotSecret, err := Parse(id + "." + secret)
	if err != nil || gotID != id || gotSecret != secret {
		t.Fatalf("Parse(Generate()) = %q %q %v", gotID, gotSecret, err)
	}
	id2, secret2, _ := Generate()
	if id == id2 || secret == secret2 {
		t.Error("two tokens are the same")
	}
	for _, bad := range []string{"", "abc123", "abc123.", "abc12.0123456789abcdef", "ABC123.0123456789abcdef",
		"abc123.0123456789abcde", "abc123.0123456789abcdef0", "abc123.0123456789abcde-", "abc123:0123456789abcdef"} {
		if _, _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	tests := []struct {
		name string
		tok  Token
	}{
		{"node token", ForNodes("abc123", "0123456789abcdef", 24*time.Hour, "for rack 2", now)},
		{"never expires", ForNodes("abc123", "0123456789abcdef", 0, "", now)},
		{"no extra groups", Token{ID: "zz9999", Secret: "abcdefghijklmnop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.tok.ToSecret()
			if s.Name != "bootstrap-token-"+tt.tok.ID || s.Namespace != "kube-system" || s.Type != corev1.SecretTypeBootstrapToken {
				t.Errorf("secret %s/%s type %s", s.Namespace, s.Name, s.Type)
			}
			got, err := ParseSecret(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.tok) {
				t.Errorf("round trip %+v, want %+v", got, tt.tok)
			}
		})
	}
	if got := ForNodes("abc123", "0123456789abcdef", time.Hour, "", now).ToSecret().Data["expiration"]; string(got) != "2026-01-02T04:04:05Z" {
		t.Errorf("expiration %q", got)
	}
}

func TestParseSecretRejects(t *testing.T) {
	good := func() *corev1.Secret {
		return ForNodes("abc123", "0123456789abcdef", time.Hour, "", time.Now()).ToSecret()
	}
	tests := []struct {
		name   string
		change func(s *corev1.Secret)
	}{
		{"opaque type", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }},
		{"name differs from id", func(s *corev1.Secret) { s.Name = "bootstrap-token-zzz999" }},
		{"malformed secret", func(s *corev1.Secret) { s.Data["token-secret"] = []byte("short") }},
		{"not for authentication", func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") }},
		{"bad expiration", func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") }},
		{"escalating group", func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("system:masters") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.change(s)
			_, err := ParseSecret(s)
			if !errors.Is(err, ErrNotToken) {
				t.Fatalf("error %v, want ErrNotToken", err)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestExpiredAndIdentity(t *testing.T) {
	now := time.Now()
	tok := ForNodes("abc123", "0123456789abcdef", time.Hour, "", now)
	if tok.Expired(now) || !tok.Expired(now.Add(2*time.Hour)) {
		t.Error("expiry is wrong")
	}
	if (Token{}).Expired(now.Add(1000 * time.Hour)) {
		t.Error("a token without expiration expired")
	}
	if !tok.Matches("0123456789abcdef") || tok.Matches("0123456789abcdee") || tok.Matches("") {
		t.Error("Matches is wrong")
	}
	if tok.User() != "system:bootstrap:abc123" || !reflect.DeepEqual(tok.Groups(), []string{"system:bootstrappers", "system:bootstrappers:gantry:nodes"}) {
		t.Errorf("user %s groups %v", tok.User(), tok.Groups())
	}
}
