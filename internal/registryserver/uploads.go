package registryserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// uploadIDRE is the form of the session ids this registry hands out; anything else is
// unknown (and never reaches the file system).
var uploadIDRE = regexp.MustCompile(`^[a-f0-9]{32}$`)

// maxMonolithic bounds a blob uploaded in one POST, which is held in memory.
const maxMonolithic = 1 << 30

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository mount, a
// monolithic upload (?digest=) or the start of a session.
func (g *Registry) startUpload(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		if ok, err := g.mount(repo, mount, q.Get("from"), r.URL.Query().Get("ns")); err != nil {
			return err
		} else if ok {
			return blobCreated(w, r, rt, mount)
		}
		// Not mountable: the client uploads the blob instead, in the session started below.
	}
	if digest := q.Get("digest"); digest != "" {
		alg, err := parseDigest(digest)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, maxMonolithic+1))
		if err != nil {
			return newError(http.StatusBadRequest, codeBlobUploadInvalid, "read blob: %v", err)
		}
		if len(data) > maxMonolithic {
			return newError(http.StatusRequestEntityTooLarge, codeSizeInvalid, "a monolithic upload holds at most %d bytes; use a chunked upload", maxMonolithic)
		}
		if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(data)) {
			return newError(http.StatusBadRequest, codeSizeInvalid, "Content-Length %s does not match the %d bytes sent", cl, len(data))
		}
		if got := digestOf(alg, data); got != digest {
			return newError(http.StatusBadRequest, codeDigestInvalid, "the blob's digest is %s, not %s", got, digest)
		}
		if err := g.store.putBlob(repo, digest, data); err != nil {
			return err
		}
		return blobCreated(w, r, rt, digest)
	}
	id, err := newUploadID()
	if err != nil {
		return err
	}
	if err := g.store.createUpload(id); err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	return uploadAccepted(w, r, rt, id, 0, http.StatusAccepted)
}

// mount links digest from repository from into repo, if from holds it.
func (g *Registry) mount(repo, digest, from, ns string) (bool, error) {
	if _, err := parseDigest(digest); err != nil {
		return false, err
	}
	if from == "" {
		// An anonymous mount: any repository's copy will do, as every client of this
		// registry may read every repository.
		if !g.store.hasBlob(digest) {
			return false, nil
		}
		return true, g.store.linkBlob(repo, digest)
	}
	fromRepo, err := g.repository(from, ns)
	if err != nil {
		return false, err
	}
	if !g.store.repoHasBlob(fromRepo, digest) {
		return false, nil
	}
	return true, g.store.linkBlob(repo, digest)
}

// uploadStatus serves GET of a session: how much it holds.
func (g *Registry) uploadStatus(w http.ResponseWriter, r *http.Request, _ string, rt route) error {
	size, err := g.sessionSize(rt.arg)
	if err != nil {
		return err
	}
	return uploadAccepted(w, r, rt, rt.arg, size, http.StatusNoContent)
}

// patchUpload appends a chunk to a session. A chunk with a Content-Range must start where
// the session ends.
func (g *Registry) patchUpload(w http.ResponseWriter, r *http.Request, _ string, rt route) error {
	unlock, err := g.lockSession(rt.arg)
	if err != nil {
		return err
	}
	defer unlock()
	size, err := g.appendChunk(r, rt.arg)
	if err != nil {
		return err
	}
	return uploadAccepted(w, r, rt, rt.arg, size, http.StatusAccepted)
}

// finishUpload closes a session with PUT ?digest=, with or without a last chunk, and
// stores the blob if its digest matches.
func (g *Registry) finishUpload(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	unlock, err := g.lockSession(rt.arg)
	if err != nil {
		return err
	}
	defer unlock()
	digest := r.URL.Query().Get("digest")
	alg, err := parseDigest(digest)
	if err != nil {
		return err
	}
	if _, err := g.appendChunk(r, rt.arg); err != nil {
		return err
	}
	got, err := g.uploadDigest(rt.arg, alg)
	if err != nil {
		return err
	}
	if got != digest {
		return newError(http.StatusBadRequest, codeDigestInvalid, "the uploaded blob's digest is %s, not %s", got, digest)
	}
	if err := g.store.commitUpload(repo, rt.arg, digest); err != nil {
		return err
	}
	g.forgetUpload(rt.arg)
	return blobCreated(w, r, rt, digest)
}

// cancelUpload serves DELETE of a session.
func (g *Registry) cancelUpload(w http.ResponseWriter, _ *http.Request, _ string, rt route) error {
	unlock, err := g.lockSession(rt.arg)
	if err != nil {
		return err
	}
	defer unlock()
	if err := g.store.deleteUpload(rt.arg); err != nil {
		return err
	}
	g.forgetUpload(rt.arg)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionSize is the size of session id, or BLOB_UPLOAD_UNKNOWN.
func (g *Registry) sessionSize(id string) (int64, error) {
	unknown := newError(http.StatusNotFound, codeBlobUploadUnknown, "upload %s is unknown", id)
	if !uploadIDRE.MatchString(id) {
		return 0, unknown
	}
	size, err := g.store.uploadSize(id)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, unknown
	}
	return size, err
}

// appendChunk appends the request body to session id, checking its Content-Range, and
// returns the session's new size. The caller holds the session's lock.
func (g *Registry) appendChunk(r *http.Request, id string) (int64, error) {
	size, err := g.sessionSize(id)
	if err != nil {
		return 0, err
	}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseRange(cr)
		if !ok {
			return 0, newError(http.StatusBadRequest, codeBlobUploadInvalid, "invalid Content-Range %q", cr)
		}
		if start != size {
			e := newError(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "chunk starts at %d, the upload holds %d bytes", start, size)
			return 0, e
		}
		if r.ContentLength >= 0 && end-start+1 != r.ContentLength {
			return 0, newError(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "Content-Range %q does not match Content-Length %d", cr, r.ContentLength)
		}
	}
	size, err = g.store.appendUpload(id, r.Body)
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	return size, nil
}

// uploadDigest hashes the data of session id with algorithm alg.
func (g *Registry) uploadDigest(id, alg string) (string, error) {
	f, err := os.Open(g.store.uploadPath(id))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := newHash(alg)
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash upload %s: %w", id, err)
	}
	return alg + ":" + hex.EncodeToString(h.Sum(nil)), nil
}

// parseRange parses a Content-Range of an upload chunk: "<start>-<end>", inclusive (some
// clients write "bytes <start>-<end>/<total>" or "bytes=<start>-<end>").
func parseRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "bytes="), "bytes ")
	s, _, _ = strings.Cut(s, "/")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

func newUploadID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// location is the path of a resource under the repository as the client named it, with
// the client's ns, so that follow-up requests reach the same repository.
func location(r *http.Request, rt route, suffix string) string {
	u := url.URL{Path: "/v2/" + rt.name + suffix}
	if ns := r.URL.Query().Get("ns"); ns != "" {
		u.RawQuery = url.Values{"ns": {ns}}.Encode()
	}
	return u.String()
}

// uploadAccepted answers for an open session: where to send the next chunk and what the
// registry holds.
func uploadAccepted(w http.ResponseWriter, r *http.Request, rt route, id string, size int64, status int) error {
	end := size - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Location", location(r, rt, "/blobs/uploads/"+id))
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

func blobCreated(w http.ResponseWriter, r *http.Request, rt route, digest string) error {
	w.Header().Set("Location", location(r, rt, "/blobs/"+digest))
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}
