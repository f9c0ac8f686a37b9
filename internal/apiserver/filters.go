package apiserver

import (
	"context"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/auth/authz"
)

type ctxKey int

const (
	userKey ctxKey = iota
	infoKey
)

var anonymous = authn.AnonymousUser()

func userFrom(r *http.Request) *authn.User {
	if u, ok := r.Context().Value(userKey).(*authn.User); ok {
		return u
	}
	return anonymous
}

func requestInfoFrom(r *http.Request) requestInfo {
	if info, ok := r.Context().Value(infoKey).(requestInfo); ok {
		return info
	}
	return parseRequestInfo(r)
}

// authenticate finds out who sent the request. Requests without credentials continue as
// system:anonymous; wrong credentials end here with a 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok, err := s.cfg.Authenticator.AuthenticateRequest(r)
		if err != nil {
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		if !ok {
			user = anonymous
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, user)))
	})
}

// authorize asks the authorizer whether the user may make the request.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r)
		user := userFrom(r)
		a := authz.Attributes{
			User: user, Verb: info.Verb, APIGroup: info.Group, Resource: info.Resource, Subresource: info.Subresource,
			Namespace: info.Namespace, Name: info.Name, ResourceRequest: info.IsResource, Path: r.URL.Path,
		}
		decision, reason, err := s.cfg.Authorizer.Authorize(r.Context(), a)
		if err == nil && decision == authz.Allow {
			next.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, forbidden(user, info, reason))
	})
}

// forbidden is kube-apiserver's wording for a refused request.
func forbidden(user *authn.User, info requestInfo, reason string) error {
	if !info.IsResource {
		msg := fmt.Sprintf("forbidden: User %q cannot %s path %q", user.Name, info.Verb, info.Path)
		if reason != "" {
			msg += ": " + reason
		}
		return apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("%s", msg))
	}
	resource := info.Resource
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", user.Name, info.Verb, resource, info.Group)
	if info.Namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", info.Namespace)
	} else {
		msg += " at the cluster scope"
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: info.Group, Resource: info.Resource}, info.Name, fmt.Errorf("%s", msg))
}
