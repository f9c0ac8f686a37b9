package authn_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/pki"
)

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, _, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// clientCert issues a client certificate and returns it parsed and as a tls.Certificate.
func clientCert(t *testing.T, ca *pki.CA, cn string, groups ...string) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient(cn, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf, pair
}

func pool(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// request is a request as the server sees it, with the given client certificates and
// Authorization header.
func request(header string, certs ...*x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.TLS = nil
	if len(certs) > 0 {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: certs}
	}
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

const (
	goodToken = "gantry1.good"
	nodeToken = "node-secret"
)

func TestAuthenticators(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	admin, _ := clientCert(t, ca, "gantry-admin", "system:masters")
	node, _ := clientCert(t, ca, "system:node:n1", "system:nodes")
	stranger, _ := clientCert(t, other, "gantry-admin", "system:masters")
	nameless, _ := clientCert(t, ca, "placeholder")
	nameless.Subject.CommonName = "" // what a certificate without a common name parses to
	serverPEM, _, err := ca.IssueServing("server", []string{"localhost"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(serverPEM)
	server, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	x509Auth := authn.NewX509(pool(ca))
	tokens := authn.NewTokens(map[string]*authn.User{
		goodToken: {Name: "system:bootstrap:gantry", Groups: []string{"system:bootstrappers"}},
		nodeToken: {Name: "system:node:n2", UID: "u-2", Groups: []string{"system:nodes", "system:authenticated"}},
		"":        {Name: "nobody"},
	})
	union := authn.Union{x509Auth, tokens}

	tests := []struct {
		name string
		auth authn.Authenticator
		req  *http.Request
		// want is the user, nil for ok=false.
		want    *authn.User
		wantErr bool
	}{
		{name: "x509 admin", auth: x509Auth, req: request("", admin),
			want: &authn.User{Name: "gantry-admin", Groups: []string{"system:masters", "system:authenticated"}}},
		{name: "x509 node", auth: x509Auth, req: request("", node),
			want: &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"}}},
		{name: "x509 no TLS", auth: x509Auth, req: request("")},
		{name: "x509 TLS without certificate", auth: x509Auth, req: func() *http.Request {
			r := request("")
			r.TLS = &tls.ConnectionState{HandshakeComplete: true}
			return r
		}()},
		{name: "x509 another CA", auth: x509Auth, req: request("", stranger), wantErr: true},
		{name: "x509 serving certificate", auth: x509Auth, req: request("", server), wantErr: true},
		{name: "x509 no common name", auth: x509Auth, req: request("", nameless), wantErr: true},

		{name: "token", auth: tokens, req: request("Bearer " + goodToken),
			want: &authn.User{Name: "system:bootstrap:gantry", Groups: []string{"system:bootstrappers", "system:authenticated"}}},
		{name: "token keeps UID and groups", auth: tokens, req: request("bearer " + nodeToken),
			want: &authn.User{Name: "system:node:n2", UID: "u-2", Groups: []string{"system:nodes", "system:authenticated"}}},
		{name: "token wrong", auth: tokens, req: request("Bearer gantry1.bad"), wantErr: true},
		{name: "token prefix of a good one", auth: tokens, req: request("Bearer gantry1.goo"), wantErr: true},
		{name: "token empty", auth: tokens, req: request("Bearer ")},
		{name: "token other scheme", auth: tokens, req: request("Basic YWRtaW46YWRtaW4=")},
		{name: "token none", auth: tokens, req: request("")},

		{name: "union certificate", auth: union, req: request("", admin),
			want: &authn.User{Name: "gantry-admin", Groups: []string{"system:masters", "system:authenticated"}}},
		{name: "union token", auth: union, req: request("Bearer " + goodToken),
			want: &authn.User{Name: "system:bootstrap:gantry", Groups: []string{"system:bootstrappers", "system:authenticated"}}},
		{name: "union good certificate wins over bad token", auth: union, req: request("Bearer wrong", admin),
			want: &authn.User{Name: "gantry-admin", Groups: []string{"system:masters", "system:authenticated"}}},
		{name: "union bad certificate, good token", auth: union, req: request("Bearer "+goodToken, stranger),
			want: &authn.User{Name: "system:bootstrap:gantry", Groups: []string{"system:bootstrappers", "system:authenticated"}}},
		{name: "union bad token", auth: union, req: request("Bearer wrong"), wantErr: true},
		{name: "union anonymous", auth: union, req: request("")},
		{name: "empty union", auth: authn.Union{}, req: request("Bearer "+goodToken, admin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := tt.auth.AuthenticateRequest(tt.req)
			if tt.wantErr {
				if !errors.Is(err, authn.ErrInvalidCredentials) || ok || u != nil {
					t.Fatalf("got %+v, %v, %v; want ErrInvalidCredentials", u, ok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if ok || u != nil {
					t.Fatalf("got %+v, %v; want ok=false", u, ok)
				}
				return
			}
			if !ok || u.Name != tt.want.Name || u.UID != tt.want.UID || !slices.Equal(u.Groups, tt.want.Groups) {
				t.Errorf("got %+v, %v; want %+v", u, ok, tt.want)
			}
		})
	}
}

// TestConformance holds every Authenticator to the contract of the interface.
func TestConformance(t *testing.T) {
	ca := newCA(t)
	cert, _ := clientCert(t, ca, "alice", "devs")
	for _, tt := range []struct {
		name string
		auth authn.Authenticator
		// good is a request the authenticator accepts.
		good *http.Request
	}{
		{name: "X509", auth: authn.NewX509(pool(ca)), good: request("", cert)},
		{name: "Tokens", auth: authn.NewTokens(map[string]*authn.User{"t": {Name: "alice", Groups: []string{"devs"}}}), good: request("Bearer t")},
		{name: "Union", auth: authn.Union{authn.NewX509(pool(ca))}, good: request("", cert)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("no credentials is not an error", func(t *testing.T) {
				u, ok, err := tt.auth.AuthenticateRequest(request(""))
				if u != nil || ok || err != nil {
					t.Errorf("got %+v, %v, %v", u, ok, err)
				}
			})
			t.Run("user is authenticated", func(t *testing.T) {
				u, ok, err := tt.auth.AuthenticateRequest(tt.good)
				if err != nil || !ok {
					t.Fatalf("got %v, %v", ok, err)
				}
				if !u.InGroup(authn.GroupAuthenticated) || u.InGroup(authn.GroupUnauthenticated) {
					t.Errorf("groups %q", u.Groups)
				}
			})
			t.Run("caller owns the user", func(t *testing.T) {
				u, _, _ := tt.auth.AuthenticateRequest(tt.good)
				u.Name, u.Groups[0] = "mallory", "system:masters"
				again, _, _ := tt.auth.AuthenticateRequest(tt.good)
				if again.Name != "alice" || again.InGroup("system:masters") {
					t.Errorf("changing one result changed the next: %+v", again)
				}
			})
		})
	}
}

// TestX509OverTLS authenticates through a real TLS handshake configured as the API
// server's: client certificates verified if given.
func TestX509OverTLS(t *testing.T) {
	ca := newCA(t)
	_, admin := clientCert(t, ca, "gantry-admin", "system:masters")
	servingPEM, servingKey, err := ca.IssueServing("server", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := tls.X509KeyPair(servingPEM, servingKey)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.NewX509(pool(ca))
	type result struct {
		user *authn.User
		ok   bool
		err  error
	}
	results := make(chan result, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := auth.AuthenticateRequest(r)
		results <- result{u, ok, err}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool(ca)}
	srv.StartTLS()
	defer srv.Close()

	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{name: "with certificate", certs: []tls.Certificate{admin}, want: "gantry-admin"},
		{name: "anonymous"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(ca), Certificates: tt.certs}}}
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-results
			if got.err != nil {
				t.Fatal(got.err)
			}
			if tt.want == "" {
				if got.ok || got.user != nil {
					t.Errorf("anonymous request authenticated as %+v", got.user)
				}
				return
			}
			if !got.ok || got.user.Name != tt.want || !got.user.InGroup("system:masters") {
				t.Errorf("got %+v, %v", got.user, got.ok)
			}
		})
	}
}

func TestUser(t *testing.T) {
	var nobody *authn.User
	if nobody.InGroup(authn.GroupAuthenticated) {
		t.Error("nil user is in a group")
	}
	anon := authn.AnonymousUser()
	if anon.GetName() != "system:anonymous" || !slices.Equal(anon.GetGroups(), []string{"system:unauthenticated"}) || anon.GetExtra() != nil {
		t.Errorf("anonymous user %+v", anon)
	}
	anon.Groups = append(anon.Groups, "system:masters")
	if authn.AnonymousUser().InGroup("system:masters") {
		t.Error("AnonymousUser shares its groups")
	}
}

func BenchmarkX509(b *testing.B) {
	ca, _, err := pki.NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient("gantry-admin", []string{"system:masters"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	auth := authn.NewX509(pool(ca))
	r := request("", pair.Leaf)
	for b.Loop() {
		if _, ok, err := auth.AuthenticateRequest(r); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestX509RemembersUntilExpiry checks that a certificate verified once is not taken on
// trust after it expires.
func TestX509RemembersUntilExpiry(t *testing.T) {
	ca := newCA(t)
	cert, _ := clientCert(t, ca, "alice")
	auth := authn.NewX509(pool(ca))
	now := time.Now()
	authn.SetClock(auth, func() time.Time { return now })
	for _, tt := range []struct {
		name    string
		at      time.Time
		wantErr bool
	}{
		{name: "valid", at: now},
		{name: "again, remembered", at: now.Add(time.Minute)},
		{name: "expired", at: cert.NotAfter.Add(time.Second), wantErr: true},
		{name: "not yet valid", at: cert.NotBefore.Add(-time.Second), wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.at
			_, ok, err := auth.AuthenticateRequest(request("", cert))
			if gotErr := err != nil; gotErr != tt.wantErr || ok == tt.wantErr {
				t.Errorf("ok %v, error %v", ok, err)
			}
		})
	}
}
