package authz

import (
	"context"
	"errors"
	"testing"

	"github.com/gantryhq/gantry/internal/auth/authn"
)

var (
	admin     = &authn.User{Name: "gantry-admin", Groups: []string{"system:masters", "system:authenticated"}}
	alice     = &authn.User{Name: "alice", Groups: []string{"devs", "system:authenticated"}}
	anonymous = authn.AnonymousUser()
)

func path(u *authn.User, verb, p string) Attributes {
	return Attributes{User: u, Verb: verb, Path: p}
}

func resource(u *authn.User, verb, group, res, ns, name string) Attributes {
	return Attributes{User: u, Verb: verb, APIGroup: group, Resource: res, Namespace: ns, Name: name, ResourceRequest: true,
		Path: "/api/v1/namespaces/" + ns + "/" + res + "/" + name}
}

// TestServerDecisions is the authorizer the server is built with today.
func TestServerDecisions(t *testing.T) {
	server := Union{Masters{}, PublicPaths{}}
	tests := []struct {
		name string
		a    Attributes
		want Decision
	}{
		{"admin reads secrets", resource(admin, "get", "", "secrets", "kube-system", "x"), Allow},
		{"admin deletes nodes", Attributes{User: admin, Verb: "delete", Resource: "nodes", Name: "n1", ResourceRequest: true}, Allow},
		{"admin posts to a path", path(admin, "post", "/anything"), Allow},
		{"user lists pods", resource(alice, "list", "", "pods", "default", ""), Deny},
		{"anonymous lists pods", resource(anonymous, "list", "", "pods", "default", ""), Deny},
		{"anonymous reads a deployment", resource(anonymous, "get", "apps", "deployments", "default", "web"), Deny},
		{"anonymous healthz", path(anonymous, "get", "/healthz"), Allow},
		{"anonymous livez", path(anonymous, "get", "/livez"), Allow},
		{"anonymous readyz HEAD", path(anonymous, "head", "/readyz"), Allow},
		{"anonymous version", path(anonymous, "get", "/version"), Allow},
		{"anonymous /api", path(anonymous, "get", "/api"), Allow},
		{"anonymous /api/v1", path(anonymous, "get", "/api/v1"), Allow},
		{"anonymous /apis", path(anonymous, "get", "/apis"), Allow},
		{"anonymous /apis/apps/v1", path(anonymous, "get", "/apis/apps/v1"), Allow},
		{"anonymous openapi v3", path(anonymous, "get", "/openapi/v3/apis/apps/v1"), Allow},
		{"user openapi v2", path(alice, "get", "/openapi/v2"), Allow},
		{"nil user version", path(nil, "get", "/version"), Allow},
		{"anonymous posts to /api", path(anonymous, "post", "/api"), Deny},
		{"anonymous metrics", path(anonymous, "get", "/metrics"), Deny},
		{"anonymous healthz check", path(anonymous, "get", "/healthz/etcd"), Deny},
		{"anonymous apis prefix trick", path(anonymous, "get", "/apisx"), Deny},
		{"anonymous dot segments", path(anonymous, "get", "/apis/../metrics"), Deny},
		{"anonymous root", path(anonymous, "get", "/"), Deny},
		{"nil user resource", resource(nil, "get", "", "pods", "default", "p"), Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := server.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("decision %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPublicPathsCustom(t *testing.T) {
	p := PublicPaths{Paths: []string{"/healthz", "/ui/*"}}
	tests := []struct {
		path string
		want Decision
	}{
		{"/healthz", Allow},
		{"/ui/", Allow},
		{"/ui/app.js", Allow},
		{"/ui", NoOpinion},
		{"/version", NoOpinion},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got, _, _ := p.Authorize(context.Background(), path(anonymous, "get", tt.path)); got != tt.want {
				t.Errorf("decision %v, want %v", got, tt.want)
			}
		})
	}
	if got, _, _ := (PublicPaths{Paths: []string{}}).Authorize(context.Background(), path(anonymous, "get", "/healthz")); got != NoOpinion {
		t.Errorf("no paths allows /healthz: %v", got)
	}
}

// fixed is an authorizer with a set answer that records being asked.
type fixed struct {
	d      Decision
	reason string
	err    error
	asked  *int
}

func (f fixed) Authorize(context.Context, Attributes) (Decision, string, error) {
	if f.asked != nil {
		*f.asked++
	}
	return f.d, f.reason, f.err
}

func TestUnion(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		union      Union
		want       Decision
		wantReason string
		wantErr    error
		// wantLastAsked says whether the last authorizer in the union is consulted.
		wantLastAsked bool
	}{
		{name: "empty denies", union: Union{}, want: Deny},
		{name: "first allow wins", union: Union{fixed{d: NoOpinion}, fixed{d: Allow, reason: "ok"}, fixed{d: Deny}}, want: Allow, wantReason: "ok"},
		{name: "first deny wins", union: Union{fixed{d: Deny, reason: "no"}, fixed{d: Allow}}, want: Deny, wantReason: "no"},
		{name: "all no opinion denies", union: Union{fixed{d: NoOpinion, reason: "not mine"}, fixed{d: NoOpinion}, fixed{d: NoOpinion, reason: "nor mine"}},
			want: Deny, wantReason: "not mine; nor mine", wantLastAsked: true},
		{name: "error passed over", union: Union{fixed{d: Allow, err: boom}, fixed{d: Allow}}, want: Allow, wantLastAsked: true},
		{name: "error reported when nobody decides", union: Union{fixed{d: NoOpinion, err: boom}, fixed{d: NoOpinion}}, want: Deny, wantErr: boom, wantLastAsked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := 0
			if n := len(tt.union); n > 0 {
				last := tt.union[n-1].(fixed)
				last.asked = &asked
				tt.union[n-1] = last
			}
			got, reason, err := tt.union.Authorize(context.Background(), path(alice, "get", "/x"))
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %v %q, want %v %q", got, reason, tt.want, tt.wantReason)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if len(tt.union) > 0 && (asked > 0) != tt.wantLastAsked {
				t.Errorf("last authorizer asked %d times", asked)
			}
		})
	}
}

// TestConformance holds every Authorizer to the contract of the interface.
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name string
		a    Authorizer
	}{
		{"Masters", Masters{}},
		{"PublicPaths", PublicPaths{}},
		{"Node", Node{}},
		{"Bootstrappers", Bootstrappers{}},
		{"Union", Union{Masters{}, Node{}, Bootstrappers{}, PublicPaths{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			for _, a := range []Attributes{
				{},
				{User: nil, Verb: "get", Resource: "pods", ResourceRequest: true},
				{User: &authn.User{}, Verb: "delete", Path: "/"},
				resource(anonymous, "create", "", "pods", "default", ""),
				resource(alice, "delete", "", "namespaces", "", "kube-system"),
			} {
				if d, _, err := tt.a.Authorize(ctx, a); d == Allow {
					t.Errorf("%+v allowed (error %v)", a, err)
				}
			}
			groups := append([]string(nil), admin.Groups...)
			tt.a.Authorize(ctx, resource(admin, "get", "", "pods", "default", "p"))
			if len(admin.Groups) != len(groups) {
				t.Error("authorizer changed the user")
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{Deny: "Deny", Allow: "Allow", NoOpinion: "NoOpinion", 7: "Decision(7)"} {
		if d.String() != want {
			t.Errorf("%d: %q, want %q", int(d), d.String(), want)
		}
	}
	var zero Decision
	if zero != Deny {
		t.Error("the zero Decision is not Deny")
	}
}
