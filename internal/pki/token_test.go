package pki

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("0a", 32)
	id, secret := "abc123", "0123456789abcdef"
	valid := "gantry1." + hash + "." + id + "." + secret
	want := Token{CAHash: hash, ID: id, Secret: secret}
	legacySecret := "5f5f5f" + "0123456789abcdef" + "0123456789"
	tests := []struct {
		name       string
		in         string
		want       Token
		wantString string
		wantErr    bool
	}{
		{name: "valid", in: valid, want: want},
		{name: "read from a file", in: "  " + valid + "\n", want: want},
		{name: "upper case hash", in: "gantry1." + strings.ToUpper(hash) + "." + id + "." + secret, want: want},
		{name: "first form", in: "gantry1." + hash + "." + legacySecret,
			want: Token{CAHash: hash, ID: "5f5f5f", Secret: "0123456789abcdef"}, wantString: "gantry1." + hash + ".5f5f5f.0123456789abcdef"},
		{name: "first form upper case", in: "gantry1." + hash + "." + strings.ToUpper(legacySecret),
			want: Token{CAHash: hash, ID: "5f5f5f", Secret: "0123456789abcdef"}, wantString: "gantry1." + hash + ".5f5f5f.0123456789abcdef"},
		{name: "empty", in: "", wantErr: true},
		{name: "other version", in: "gantry2." + hash + "." + id + "." + secret, wantErr: true},
		{name: "k3s token", in: "K10" + hash + "::server:" + secret, wantErr: true},
		{name: "bare bootstrap token", in: id + "." + secret, wantErr: true},
		{name: "no secret", in: "gantry1." + hash, wantErr: true},
		{name: "extra part", in: valid + ".x", wantErr: true},
		{name: "short hash", in: "gantry1." + hash[2:] + "." + id + "." + secret, wantErr: true},
		{name: "short secret", in: "gantry1." + hash + "." + id + "." + secret[2:], wantErr: true},
		{name: "short id", in: "gantry1." + hash + ".abc." + secret, wantErr: true},
		{name: "upper case secret", in: "gantry1." + hash + "." + id + "." + strings.ToUpper(secret), wantErr: true},
		{name: "first form not hex", in: "gantry1." + hash + "." + strings.Repeat("zz", 16), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("ParseToken error %v, want ErrInvalidToken", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseToken = %+v, want %+v", got, tt.want)
			}
			wantString := tt.wantString
			if wantString == "" {
				wantString = valid
			}
			if got.String() != wantString {
				t.Errorf("String = %q, want %q", got, wantString)
			}
			if got.BearerToken() != got.ID+"."+got.Secret {
				t.Errorf("BearerToken = %q", got.BearerToken())
			}
		})
	}
}

func TestTokenEqual(t *testing.T) {
	a := Token{CAHash: strings.Repeat("0a", 32), ID: "abc123", Secret: "0123456789abcdef"}
	tests := []struct {
		name string
		b    Token
		want bool
	}{
		{name: "same", b: a, want: true},
		{name: "other secret", b: Token{CAHash: a.CAHash, ID: a.ID, Secret: "0123456789abcdee"}},
		{name: "other id", b: Token{CAHash: a.CAHash, ID: "abc124", Secret: a.Secret}},
		{name: "other CA", b: Token{CAHash: strings.Repeat("0b", 32), ID: a.ID, Secret: a.Secret}},
		{name: "zero", b: Token{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Equal(tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewTokenIsUnique(t *testing.T) {
	ca, _ := newTestCA(t)
	a, err := NewToken(ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken(ca.Cert)
	if a.Equal(b) || a.CAHash != b.CAHash || !a.MatchesCA(ca.Cert) {
		t.Errorf("tokens %v and %v", a, b)
	}
	if _, err := ParseToken(a.String()); err != nil {
		t.Errorf("NewToken made an unparsable token: %v", err)
	}
}

// TestTokenClientTLSConfig checks that an agent holding only the token can reach the
// server, and only the server.
func TestTokenClientTLSConfig(t *testing.T) {
	c := ensure(t, t.TempDir(), Options{lookupHost: fakeHost("node-1")})
	other, _ := newTestCA(t)
	otherToken, _ := NewToken(other.Cert)
	leafOnly := c.ServingCert
	leafOnly.Certificate = leafOnly.Certificate[:1]

	tests := []struct {
		name    string
		serving tls.Certificate
		token   Token
		host    string
		wantErr string
	}{
		{name: "pinned CA", serving: c.ServingCert, token: c.Token, host: "127.0.0.1"},
		{name: "host name", serving: c.ServingCert, token: c.Token, host: "localhost"},
		{name: "token of another cluster", serving: c.ServingCert, token: otherToken, host: "127.0.0.1", wantErr: "does not contain the CA"},
		{name: "name not in certificate", serving: c.ServingCert, token: c.Token, host: "other.example.com", wantErr: "other.example.com"},
		{name: "server sends no CA", serving: leafOnly, token: c.Token, host: "127.0.0.1", wantErr: "does not contain the CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.serving}}
			srv.StartTLS()
			defer srv.Close()

			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tt.token.ClientTLSConfig(tt.host)}}
			resp, err := client.Get(srv.URL)
			if tt.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
}
