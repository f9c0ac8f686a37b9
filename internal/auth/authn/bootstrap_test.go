package authn_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
)

// secrets is a SecretGetter over a map that counts its reads.
type secrets struct {
	byName map[string]*corev1.Secret
	reads  int
	err    error
}

func (s *secrets) get(_ context.Context, name string) (*corev1.Secret, error) {
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	if sec, ok := s.byName[name]; ok {
		return sec.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (s *secrets) add(sec *corev1.Secret) { s.byName[sec.Name] = sec }

func TestBootstrapTokens(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	store := &secrets{byName: map[string]*corev1.Secret{}}
	store.add(bootstraptoken.ForNodes("abc123", "0123456789abcdef", time.Hour, "", now).ToSecret())
	store.add(bootstraptoken.ForNodes("old000", "0123456789abcdef", time.Minute, "", now.Add(-time.Hour)).ToSecret())
	store.add(bootstraptoken.Token{ID: "plain1", Secret: "0123456789abcdef"}.ToSecret())
	deleting := bootstraptoken.ForNodes("del000", "0123456789abcdef", 0, "", now).ToSecret()
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	store.add(deleting)
	notAuth := bootstraptoken.ForNodes("sig000", "0123456789abcdef", 0, "", now).ToSecret()
	delete(notAuth.Data, "usage-bootstrap-authentication")
	store.add(notAuth)

	a := authn.NewBootstrapTokens(store.get, time.Minute)
	authn.SetBootstrapClock(a, func() time.Time { return now })
	tests := []struct {
		name       string
		header     string
		wantUser   string
		wantGroups []string
		wantErr    bool
	}{
		{name: "node token", header: "Bearer abc123.0123456789abcdef", wantUser: "system:bootstrap:abc123",
			wantGroups: []string{"system:bootstrappers", "system:bootstrappers:gantry:nodes", "system:authenticated"}},
		{name: "token without extra groups", header: "Bearer plain1.0123456789abcdef", wantUser: "system:bootstrap:plain1",
			wantGroups: []string{"system:bootstrappers", "system:authenticated"}},
		{name: "no header", header: ""},
		{name: "basic auth is not ours", header: "Basic YWxpY2U6cHc="},
		{name: "wrong secret", header: "Bearer abc123.0123456789abcdee", wantErr: true},
		{name: "unknown id", header: "Bearer zzz999.0123456789abcdef", wantErr: true},
		{name: "expired", header: "Bearer old000.0123456789abcdef", wantErr: true},
		{name: "being deleted", header: "Bearer del000.0123456789abcdef", wantErr: true},
		{name: "not for authentication", header: "Bearer sig000.0123456789abcdef", wantErr: true},
		{name: "not a bootstrap token", header: "Bearer gantry1.abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := a.AuthenticateRequest(request(tt.header))
			if tt.wantErr {
				if !errors.Is(err, authn.ErrInvalidCredentials) || ok {
					t.Fatalf("got %+v %v %v, want ErrInvalidCredentials", u, ok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantUser == "" {
				if ok {
					t.Errorf("authenticated %+v", u)
				}
				return
			}
			if !ok || u.Name != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("got %+v %v, want %s %v", u, ok, tt.wantUser, tt.wantGroups)
			}
		})
	}
}

func TestBootstrapTokensCacheAndExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	store := &secrets{byName: map[string]*corev1.Secret{}}
	store.add(bootstraptoken.ForNodes("abc123", "0123456789abcdef", time.Hour, "", now).ToSecret())
	a := authn.NewBootstrapTokens(store.get, 10*time.Second)
	clock := now
	authn.SetBootstrapClock(a, func() time.Time { return clock })
	good := func() bool {
		_, ok, _ := a.AuthenticateRequest(request("Bearer abc123.0123456789abcdef"))
		return ok
	}
	if !good() || !good() || store.reads != 1 {
		t.Fatalf("two requests: ok, %d reads; want 1", store.reads)
	}
	// Revoked: still accepted from the cache, refused once it is stale.
	delete(store.byName, "bootstrap-token-abc123")
	if !good() {
		t.Error("cached token refused")
	}
	clock = clock.Add(11 * time.Second)
	if good() {
		t.Error("revoked token accepted after the cache interval")
	}
	// Unknown IDs are cached too.
	a.AuthenticateRequest(request("Bearer zzz999.0123456789abcdef"))
	reads := store.reads
	a.AuthenticateRequest(request("Bearer zzz999.0123456789abcdee"))
	if store.reads != reads {
		t.Error("a guess at a missing ID read the store again")
	}
	// Expiry is checked on every request, not when cached.
	store.add(bootstraptoken.ForNodes("exp000", "0123456789abcdef", time.Minute, "", clock).ToSecret())
	if _, ok, _ := a.AuthenticateRequest(request("Bearer exp000.0123456789abcdef")); !ok {
		t.Fatal("fresh token refused")
	}
	clock = clock.Add(61 * time.Second)
	if _, ok, err := a.AuthenticateRequest(request("Bearer exp000.0123456789abcdef")); ok || !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("expired token: %v %v", ok, err)
	}
	// A failing store is an error, not a refusal of the credentials.
	store.err = errors.New("etcd down")
	clock = clock.Add(time.Hour)
	if _, ok, err := a.AuthenticateRequest(request("Bearer abc123.0123456789abcdef")); ok || err == nil || errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("store failure: %v %v", ok, err)
	}
}
