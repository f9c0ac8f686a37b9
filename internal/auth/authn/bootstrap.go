package authn

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
)

// SecretGetter reads a Secret of the bootstrap token namespace; a missing one is an error
// for which apierrors.IsNotFound holds.
type SecretGetter func(ctx context.Context, name string) (*corev1.Secret, error)

// BootstrapTokens authenticates Kubernetes bootstrap tokens, "Authorization: Bearer
// <id>.<secret>", against their Secrets (package bootstraptoken), as kube-apiserver's
// bootstrap token authenticator does: the holder of a valid, unexpired token is
// system:bootstrap:<id> in system:bootstrappers and the token's extra groups.
//
// Secrets are read through get and remembered for cacheTTL, found or not, so that a flood of
// requests (or of guesses) costs one read per token ID and interval; a revoked token thus
// works for at most cacheTTL more. Expiry is checked on every request.
type BootstrapTokens struct {
	get      SecretGetter
	cacheTTL time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	// token is nil if there is no usable token with the ID.
	token   *bootstraptoken.Token
	fetched time.Time
}

// bootstrapCacheSize bounds BootstrapTokens.cache; guessed IDs are cached too.
const bootstrapCacheSize = 1024

var _ Authenticator = (*BootstrapTokens)(nil)

// NewBootstrapTokens returns an authenticator that reads token Secrets with get and caches
// them for cacheTTL.
func NewBootstrapTokens(get SecretGetter, cacheTTL time.Duration) *BootstrapTokens {
	return &BootstrapTokens{get: get, cacheTTL: cacheTTL, now: time.Now, cache: make(map[string]cachedToken)}
}

// AuthenticateRequest implements Authenticator. A bearer token not of the bootstrap form is
// an invalid credential here; in a Union another authenticator may still accept it.
func (a *BootstrapTokens) AuthenticateRequest(r *http.Request) (*User, bool, error) {
	bearer, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	id, secret, err := bootstraptoken.Parse(bearer)
	if err != nil {
		return nil, false, fmt.Errorf("%w: bearer token", ErrInvalidCredentials)
	}
	tok, err := a.lookup(r.Context(), id)
	if err != nil {
		return nil, false, err
	}
	// The secret is compared even when there is no token, so that timing tells nothing.
	stored := bootstraptoken.Token{}
	if tok != nil {
		stored = *tok
	}
	if !stored.Matches(secret) || tok == nil {
		return nil, false, fmt.Errorf("%w: bootstrap token %s", ErrInvalidCredentials, id)
	}
	if tok.Expired(a.now()) {
		return nil, false, fmt.Errorf("%w: bootstrap token %s expired at %s", ErrInvalidCredentials, id, tok.Expires.Format(time.RFC3339))
	}
	return authenticated(&User{Name: tok.User(), Groups: tok.Groups()}), true, nil
}

// lookup returns the usable token with id, nil if there is none.
func (a *BootstrapTokens) lookup(ctx context.Context, id string) (*bootstraptoken.Token, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[id]
	a.mu.Unlock()
	if ok && now.Sub(c.fetched) < a.cacheTTL {
		return c.token, nil
	}
	s, err := a.get(ctx, bootstraptoken.SecretName(id))
	var tok *bootstraptoken.Token
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("read bootstrap token %s: %w", id, err)
	case s.DeletionTimestamp != nil:
		// Being deleted is revoked, as upstream treats it.
	default:
		if t, err := bootstraptoken.ParseSecret(s); err == nil {
			tok = &t
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= bootstrapCacheSize {
		for k := range a.cache { // forget one, whichever
			delete(a.cache, k)
			break
		}
	}
	a.cache[id] = cachedToken{token: tok, fetched: now}
	return tok, nil
}
