package authz

import (
	"context"
	"strings"
)

// DefaultPublicPaths are the paths anyone may read: health, version and discovery. A
// pattern ending in "*" matches every path with the prefix before it, as in RBAC's
// nonResourceURLs, so "/api/*" matches "/api/v1" but not "/api" itself.
var DefaultPublicPaths = []string{
	"/healthz", "/livez", "/readyz", "/version",
	"/api", "/api/*", "/apis", "/apis/*",
	"/openapi/*",
}

// PublicPaths allows reads (GET and HEAD) of non-resource paths matching Paths by anyone,
// the anonymous user included, and has no opinion on anything else. The zero value uses
// DefaultPublicPaths.
type PublicPaths struct {
	// Paths are patterns as in DefaultPublicPaths.
	Paths []string
}

var _ Authorizer = PublicPaths{}

// Authorize implements Authorizer.
func (p PublicPaths) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.ResourceRequest || (a.Verb != "get" && a.Verb != "head") || hasDotSegment(a.Path) {
		return NoOpinion, "", nil
	}
	patterns := p.Paths
	if patterns == nil {
		patterns = DefaultPublicPaths
	}
	for _, pattern := range patterns {
		if pathMatches(pattern, a.Path) {
			return Allow, "", nil
		}
	}
	return NoOpinion, "", nil
}

func pathMatches(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return path == pattern
}

// hasDotSegment reports whether path has a "." or ".." segment, which could make a public
// prefix name something else once the path is cleaned.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
