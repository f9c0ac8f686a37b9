package registryserver

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestPath sends arbitrary paths, references and ns values through the router and
// the name checks: they answer, never panic, never fail with a server error, and never
// accept a name that could leave the registry's directory.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{
		"/v2/", "/v2/a/b/manifests/latest", "/v2/docker.io/library/nginx/manifests/1.27",
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/0123", "/v2/a/tags/list", "/v2/x/referrers/sha256:00",
		"/v2/../../etc/manifests/passwd", "/v2/a//b/blobs/sha256:zz", "/v2/manifests/manifests/manifests",
	} {
		f.Add(s, "")
		f.Add(s, "docker.io")
	}
	g, err := New(f.TempDir(), Options{OwnNames: []string{"localhost:5000"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	h := g.Handler()
	f.Fuzz(func(t *testing.T, path, ns string) {
		if rt, ok := parsePath(path); ok && rt.kind != routeBase {
			if repo, err := g.repository(rt.name, ns); err == nil {
				if strings.Contains(repo, "..") || strings.HasPrefix(repo, "/") || strings.Contains(repo, "//") || strings.HasPrefix(repo, "_") || strings.Contains(repo, "/_") {
					t.Fatalf("accepted repository %q from %q", repo, path)
				}
			}
			_ = checkRef(rt.arg)
		}
		u := &url.URL{Path: "/" + strings.TrimPrefix(path, "/"), RawQuery: url.Values{"ns": {ns}}.Encode()}
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodDelete} {
			req := httptest.NewRequest(method, "http://registry/", nil)
			req.URL = u
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s?ns=%s: %d %s", method, path, ns, rec.Code, rec.Body)
			}
		}
	})
}
