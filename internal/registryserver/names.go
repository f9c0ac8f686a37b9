package registryserver

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"net/http"
	"regexp"
	"strings"
)

var (
	// nameRE is the distribution-spec's repository name.
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	// digestRE is any well-formed digest, so that unknown algorithms answer UNSUPPORTED
	// rather than DIGEST_INVALID.
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
)

// maxNameLength bounds a repository name, as registries commonly do, so that a name is a
// usable path on disk.
const maxNameLength = 255

// validName reports whether name is a repository name the spec allows.
func validName(name string) bool {
	return len(name) <= maxNameLength && nameRE.MatchString(name)
}

// validTag reports whether tag is a tag the spec allows.
func validTag(tag string) bool { return tagRE.MatchString(tag) }

// algorithms are the digest algorithms the registry stores, with their hex lengths.
var algorithms = map[string]struct {
	hexLen int
	hash   func() hash.Hash
}{
	"sha256": {64, sha256.New},
	"sha512": {128, sha512.New},
}

// parseDigest checks a digest ("<algorithm>:<hex>") and returns its algorithm.
func parseDigest(d string) (string, error) {
	alg, hx, _ := strings.Cut(d, ":")
	a, known := algorithms[alg]
	if !digestRE.MatchString(d) {
		return "", newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", d)
	}
	if !known {
		return "", newError(http.StatusBadRequest, codeUnsupported, "digest algorithm of %q is not supported", d)
	}
	if len(hx) != a.hexLen || strings.Trim(hx, "0123456789abcdef") != "" {
		return "", newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", d)
	}
	return alg, nil
}

// newHash returns a hash of algorithm alg, which parseDigest accepted.
func newHash(alg string) hash.Hash { return algorithms[alg].hash() }

// isDigest tells a manifest reference that is a digest from a tag.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// digestOf digests b with algorithm alg.
func digestOf(alg string, b []byte) string {
	h := newHash(alg)
	h.Write(b)
	return alg + ":" + hex.EncodeToString(h.Sum(nil))
}

// route is what a /v2/ path asks for.
type route struct {
	name string // repository, before the ns mapping
	kind string // one of the route kinds below
	arg  string // digest, reference or upload id
}

const (
	routeBase      = "base"
	routeBlob      = "blob"
	routeUploads   = "uploads"
	routeUpload    = "upload"
	routeManifest  = "manifest"
	routeTags      = "tags"
	routeReferrers = "referrers"
)

// parsePath splits a request path into a route. Repository names may contain any of the
// keywords ("blobs", "manifests", ...) as components, so the path is read from its end,
// where the keywords are fixed. ok is false for paths that are no registry endpoint.
func parsePath(p string) (r route, ok bool) {
	if p == "/v2/" || p == "/v2" {
		return route{kind: routeBase}, true
	}
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return route{}, false
	}
	parts := strings.Split(rest, "/")
	n := len(parts)
	at := func(i int) string { // counted from the end: at(1) is the last part
		if i > n {
			return ""
		}
		return parts[n-i]
	}
	name := func(drop int) string { return strings.Join(parts[:max(n-drop, 0)], "/") }
	switch {
	case n >= 3 && at(2) == "tags" && at(1) == "list":
		r = route{name: name(2), kind: routeTags}
	case n >= 3 && at(2) == "manifests":
		r = route{name: name(2), kind: routeManifest, arg: at(1)}
	case n >= 3 && at(2) == "referrers":
		r = route{name: name(2), kind: routeReferrers, arg: at(1)}
	case n >= 4 && at(3) == "blobs" && at(2) == "uploads" && at(1) == "":
		r = route{name: name(3), kind: routeUploads}
	case n >= 3 && at(2) == "blobs" && at(1) == "uploads":
		r = route{name: name(2), kind: routeUploads}
	case n >= 4 && at(3) == "blobs" && at(2) == "uploads":
		r = route{name: name(3), kind: routeUpload, arg: at(1)}
	case n >= 3 && at(2) == "blobs":
		r = route{name: name(2), kind: routeBlob, arg: at(1)}
	default:
		return route{}, false
	}
	return r, r.name != ""
}

// repository maps the name in the path to the stored repository: with ?ns=H (containerd
// asking a mirror for host H) the repository is "<H>/<name>", unless H is the registry itself.
func (g *Registry) repository(name, ns string) (string, error) {
	repo := name
	if ns != "" && !g.ownNames[ns] {
		repo = ns + "/" + name
	}
	if !validName(repo) {
		return "", newError(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q", repo)
	}
	return repo, nil
}
