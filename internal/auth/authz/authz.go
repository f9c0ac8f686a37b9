// Package authz decides whether an authenticated user may make an API request.
//
// Each Authorizer looks at a request's Attributes and allows it, denies it, or has no
// opinion; a Union asks several in order and the first that decides wins, so that adding
// a way to authorize (RBAC, the node authorizer) is adding an Authorizer to the Union the
// server is built with. A request nobody allows is denied.
package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantryhq/gantry/internal/auth/authn"
)

// Decision is an authorizer's answer. The zero value is Deny, so that a forgotten
// assignment fails closed.
type Decision int

const (
	// Deny refuses the request; no later authorizer is asked.
	Deny Decision = iota
	// Allow permits the request; no later authorizer is asked.
	Allow
	// NoOpinion leaves the decision to the next authorizer.
	NoOpinion
)

func (d Decision) String() string {
	switch d {
	case Deny:
		return "Deny"
	case Allow:
		return "Allow"
	case NoOpinion:
		return "NoOpinion"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Attributes describe a request, as Kubernetes' authorizers see it. A resource request
// (ResourceRequest true) is named by Verb, APIGroup, Resource, Subresource, Namespace and
// Name; any other request by Verb (the lower-case HTTP method) and Path.
type Attributes struct {
	// User made the request; the anonymous user if it had no credentials. Authorizers
	// must treat nil as a user in no group.
	User *authn.User
	// Verb is get, list, watch, create, update, patch, delete or deletecollection for a
	// resource request, the lower-case HTTP method otherwise.
	Verb            string
	APIGroup        string
	Resource        string
	Subresource     string
	Namespace       string
	Name            string
	ResourceRequest bool
	// Path is the URL path, without query.
	Path string
}

// Authorizer decides whether a request may proceed.
//
// It returns Allow or Deny to decide, NoOpinion to leave it to others, and a reason a
// person can read (it ends up in the 403 message). An error means it could not decide;
// the decision it returns with an error must not be Allow. Implementations must be safe
// for concurrent use and must not modify the Attributes' User.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// Union asks each authorizer in order and returns the first Allow or Deny. An authorizer
// that fails is passed over, as Kubernetes does; if none decides, the request is denied
// with the reasons and errors gathered on the way.
type Union []Authorizer

var _ Authorizer = Union(nil)

// Authorize implements Authorizer.
func (u Union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons []string
	var errs []error
	for _, authorizer := range u {
		d, reason, err := authorizer.Authorize(ctx, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d == Allow || d == Deny {
			return d, reason, nil
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
	}
	return Deny, strings.Join(reasons, "; "), errors.Join(errs...)
}
