package registryserver

import (
	"errors"
	"io/fs"
	"net/http"
	"time"
)

// getBlob serves GET and HEAD of a blob, ranges included.
func (g *Registry) getBlob(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	if _, err := parseDigest(rt.arg); err != nil {
		return err
	}
	// A manifest is a blob too, and clients may fetch it as one.
	if !g.store.repoHasBlob(repo, rt.arg) && !exists(g.store.manifestLink(repo, rt.arg)) {
		return newError(http.StatusNotFound, codeBlobUnknown, "blob %s is unknown to repository %s", rt.arg, repo)
	}
	f, err := g.store.openBlob(rt.arg)
	if errors.Is(err, fs.ErrNotExist) {
		return newError(http.StatusNotFound, codeBlobUnknown, "blob %s is unknown to repository %s", rt.arg, repo)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", rt.arg)
	w.Header().Set("Etag", `"`+rt.arg+`"`)
	w.Header().Set("Cache-Control", "max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// deleteBlob removes a blob from a repository.
func (g *Registry) deleteBlob(w http.ResponseWriter, _ *http.Request, repo string, rt route) error {
	if _, err := parseDigest(rt.arg); err != nil {
		return err
	}
	err := g.store.unlinkBlob(repo, rt.arg)
	if errors.Is(err, fs.ErrNotExist) {
		return newError(http.StatusNotFound, codeBlobUnknown, "blob %s is unknown to repository %s", rt.arg, repo)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
