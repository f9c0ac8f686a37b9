package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Tokens authenticates requests by a static bearer token in the header
// "Authorization: Bearer <token>". Other authorization schemes are not its business.
type Tokens struct {
	// byHash indexes tokens by their SHA-256, so that finding one takes no time that
	// depends on how much of a guess is right.
	byHash map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	token string
	user  *User
}

var _ Authenticator = (*Tokens)(nil)

// NewTokens returns an authenticator for tokens, a map from token to its user. The map
// and users are copied; empty tokens are ignored.
func NewTokens(tokens map[string]*User) *Tokens {
	a := &Tokens{byHash: make(map[[sha256.Size]byte]tokenEntry, len(tokens))}
	for token, u := range tokens {
		if token == "" || u == nil {
			continue
		}
		a.byHash[sha256.Sum256([]byte(token))] = tokenEntry{token: token, user: authenticated(u)}
	}
	return a
}

// AuthenticateRequest implements Authenticator.
func (a *Tokens) AuthenticateRequest(r *http.Request) (*User, bool, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	e, found := a.byHash[sha256.Sum256([]byte(token))]
	if !found || subtle.ConstantTimeCompare([]byte(e.token), []byte(token)) != 1 {
		return nil, false, fmt.Errorf("%w: bearer token", ErrInvalidCredentials)
	}
	return authenticated(e.user), true, nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header; ok is false
// if there is none, or it is empty, as Kubernetes treats it.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
