// Package authn finds out who sent an API request: from a client certificate (X509), a
// bearer token (Tokens), or the first of several that knows (Union).
//
// Authentication only names the user; whether the user may do what it asks is for
// internal/auth/authz. A request without credentials is not an error: authenticators
// return ok=false and the API server treats it as Anonymous. Credentials that are
// presented but wrong are an error, which the API server answers with 401.
package authn

import (
	"errors"
	"net/http"
	"slices"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Well-known user and group names.
const (
	Anonymous            = user.Anonymous
	GroupAuthenticated   = user.AllAuthenticated
	GroupUnauthenticated = user.AllUnauthenticated
)

// ErrInvalidCredentials is the class of errors for credentials that were presented but
// are not valid.
var ErrInvalidCredentials = errors.New("invalid credentials")

// Authenticator says who sent a request.
//
// It returns ok=false and no error if the request carries none of the credentials it
// understands, so that another authenticator may try; it returns an error wrapping
// ErrInvalidCredentials if it carries such credentials and they are not valid, and may
// return other errors if it could not decide. The User returned belongs to the caller.
// Implementations must be safe for concurrent use.
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (u *User, ok bool, err error)
}

// User is an authenticated identity. It implements user.Info, for code that speaks
// Kubernetes' types.
type User struct {
	Name   string
	UID    string
	Groups []string
}

var _ user.Info = (*User)(nil)

// AnonymousUser is the user of a request without credentials.
func AnonymousUser() *User {
	return &User{Name: Anonymous, Groups: []string{GroupUnauthenticated}}
}

// InGroup reports whether u is a member of group. A nil User is in no group.
func (u *User) InGroup(group string) bool {
	return u != nil && slices.Contains(u.Groups, group)
}

// GetName implements user.Info.
func (u *User) GetName() string { return u.Name }

// GetUID implements user.Info.
func (u *User) GetUID() string { return u.UID }

// GetGroups implements user.Info.
func (u *User) GetGroups() []string { return u.Groups }

// GetExtra implements user.Info; a User has no extra attributes.
func (u *User) GetExtra() map[string][]string { return nil }

// authenticated returns a copy of u whose groups include GroupAuthenticated, as every
// authenticated user's do.
func authenticated(u *User) *User {
	c := &User{Name: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
	if !slices.Contains(c.Groups, GroupAuthenticated) {
		c.Groups = append(c.Groups, GroupAuthenticated)
	}
	return c
}

// Union tries each authenticator in order and returns the first user found. If none
// finds one, it returns the errors of those that failed, or ok=false if none did: a
// valid client certificate therefore wins over an invalid bearer token sent alongside, as
// in Kubernetes.
type Union []Authenticator

var _ Authenticator = Union(nil)

// AuthenticateRequest implements Authenticator.
func (u Union) AuthenticateRequest(r *http.Request) (*User, bool, error) {
	var errs []error
	for _, a := range u {
		user, ok, err := a.AuthenticateRequest(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return user, true, nil
		}
	}
	return nil, false, errors.Join(errs...)
}
