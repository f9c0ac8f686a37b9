package apiserver

import (
	"net/http"
	"net/url"
	"strings"
)

// requestInfo is what a URL and method say about a request.
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}
type requestInfo struct {
	// IsResource is false for non-resource paths such as /version and discovery.
	IsResource  bool
	Verb        string // get, list, watch, create, update, patch, delete, deletecollection
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Subpath is what follows the subresource: the path a nodes/proxy request forwards.
	Subpath string
	Path    string
}

// parseRequestInfo maps method and path to a requestInfo. It only parses; whether the resource
// exists is decided later.
func parseRequestInfo(r *http.Request) requestInfo {
	info := requestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.Group, info.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return info
	}
	info.IsResource = true

	// namespaces/{ns}/{resource}... is a namespaced request; namespaces/{name}[/status or
	// /finalize] is the namespace object itself.
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		info.Namespace, parts = parts[1], parts[2:]
	}
	info.Resource = parts[0]
	if info.Resource == "namespaces" && len(parts) >= 2 {
		info.Name = parts[1]
		info.Namespace = ""
	} else if len(parts) >= 2 {
		info.Name = parts[1]
	}
	if len(parts) >= 3 {
		info.Subresource = parts[2]
		info.Subpath = strings.Join(parts[3:], "/")
	}

	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isTrue(q, "watch"):
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isTrue(q url.Values, key string) bool {
	v := q.Get(key)
	return v == "true" || v == "1"
}
