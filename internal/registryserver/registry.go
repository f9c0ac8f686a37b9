package registryserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// Options configure a Registry.
type Options struct {
	// OwnNames are the host[:port] names under which clients reach this registry, such as
	// "localhost:5000". A mirror request for one of them (?ns=localhost:5000) is served from
	// the repository as named, not from "<host>/<name>".
	OwnNames []string
	// Logger receives request failures; slog.Default() if nil.
	Logger *slog.Logger
}

// Registry is an OCI distribution registry storing its data in one directory. It is safe
// for concurrent use.
type Registry struct {
	store    store
	ownNames map[string]bool
	log      *slog.Logger

	// uploadLocks serialises the requests of one upload session, so that chunks append in
	// order and a closing PUT sees every chunk.
	mu          sync.Mutex
	uploadLocks map[string]*sync.Mutex
}

// New opens (or creates) a registry whose data lives in dir.
func New(dir string, opts Options) (*Registry, error) {
	for _, sub := range []string{"blobs", "uploads", "repositories"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create registry directory: %w", err)
		}
	}
	g := &Registry{
		store:       store{dir: dir},
		ownNames:    map[string]bool{},
		log:         opts.Logger,
		uploadLocks: map[string]*sync.Mutex{},
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	for _, n := range opts.OwnNames {
		g.ownNames[n] = true
	}
	return g, nil
}

// Handler serves the distribution API under /v2/.
func (g *Registry) Handler() http.Handler { return http.HandlerFunc(g.serveHTTP) }

// handlerFunc is one endpoint: it writes a success response or returns an error, which
// serveHTTP turns into the spec's JSON error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, repo string, rt route) error

func (g *Registry) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parsePath(r.URL.Path)
	if !ok {
		writeError(w, newError(http.StatusNotFound, codeUnsupported, "no registry endpoint at %s", r.URL.Path))
		return
	}
	if rt.kind == routeBase {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, newError(http.StatusMethodNotAllowed, codeUnsupported, "%s is not supported on /v2/", r.Method))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}")) //nolint:errcheck
		return
	}
	h := g.endpoint(rt.kind, r.Method)
	if h == nil {
		writeError(w, newError(http.StatusMethodNotAllowed, codeUnsupported, "%s is not supported on %s", r.Method, r.URL.Path))
		return
	}
	repo, err := g.repository(rt.name, r.URL.Query().Get("ns"))
	if err == nil {
		err = h(w, r, repo, rt)
	}
	if err != nil {
		if _, ok := err.(*regError); !ok {
			g.log.Error("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, err)
	}
}

// endpoint picks the handler of a route and method; nil if there is none.
func (g *Registry) endpoint(kind, method string) handlerFunc {
	type key struct{ kind, method string }
	switch (key{kind, method}) {
	case key{routeBlob, http.MethodGet}, key{routeBlob, http.MethodHead}:
		return g.getBlob
	case key{routeBlob, http.MethodDelete}:
		return g.deleteBlob
	case key{routeUploads, http.MethodPost}:
		return g.startUpload
	case key{routeUpload, http.MethodGet}:
		return g.uploadStatus
	case key{routeUpload, http.MethodPatch}:
		return g.patchUpload
	case key{routeUpload, http.MethodPut}:
		return g.finishUpload
	case key{routeUpload, http.MethodDelete}:
		return g.cancelUpload
	case key{routeManifest, http.MethodGet}, key{routeManifest, http.MethodHead}:
		return g.getManifest
	case key{routeManifest, http.MethodPut}:
		return g.putManifest
	case key{routeManifest, http.MethodDelete}:
		return g.deleteManifest
	case key{routeTags, http.MethodGet}:
		return g.listTags
	case key{routeReferrers, http.MethodGet}:
		return g.listReferrers
	}
	return nil
}

// lockSession locks upload session id for one request and returns its unlock; the session
// must exist.
func (g *Registry) lockSession(id string) (unlock func(), err error) {
	if !uploadIDRE.MatchString(id) {
		return nil, newError(http.StatusNotFound, codeBlobUploadUnknown, "upload %s is unknown", id)
	}
	g.mu.Lock()
	l, ok := g.uploadLocks[id]
	if !ok {
		l = &sync.Mutex{}
		g.uploadLocks[id] = l
	}
	g.mu.Unlock()
	l.Lock()
	if _, err := g.sessionSize(id); err != nil {
		l.Unlock()
		g.forgetUpload(id)
		return nil, err
	}
	return l.Unlock, nil
}

// forgetUpload drops the lock of a finished, cancelled or unknown session.
func (g *Registry) forgetUpload(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.uploadLocks, id)
}
