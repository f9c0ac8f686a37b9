package registryserver

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Manifest media types the registry accepts.
const (
	mediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestSize is the largest manifest accepted; the spec asks registries to take at
// least 4 MiB.
const maxManifestSize = 4 << 20

// descriptor is the part of an OCI descriptor the registry reads and writes.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// URLs are where a non-distributable layer is fetched from instead of a registry.
	URLs []string `json:"urls,omitempty"`
}

// manifestBody is the union of image manifests and indexes, as far as the registry cares.
type manifestBody struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

func isIndex(mediaType string) bool {
	return mediaType == mediaTypeOCIIndex || mediaType == mediaTypeDockerList
}

func isImageManifest(mediaType string) bool {
	return mediaType == mediaTypeOCIManifest || mediaType == mediaTypeDockerManifest
}

// resolveRef turns a tag or digest into a digest of repo's manifests, or MANIFEST_UNKNOWN.
func (g *Registry) resolveRef(repo, ref string) (string, error) {
	if err := checkRef(ref); err != nil {
		return "", err
	}
	digest, err := g.store.resolve(repo, ref)
	if errors.Is(err, fs.ErrNotExist) {
		return "", newError(http.StatusNotFound, codeManifestUnknown, "manifest %s is unknown to repository %s", ref, repo)
	}
	return digest, err
}

// checkRef checks a manifest reference: a digest or a tag.
func checkRef(ref string) error {
	if isDigest(ref) {
		_, err := parseDigest(ref)
		return err
	}
	if !validTag(ref) {
		return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", ref)
	}
	return nil
}

// getManifest serves GET and HEAD of a manifest, with the media type it was pushed with.
func (g *Registry) getManifest(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	digest, err := g.resolveRef(repo, rt.arg)
	if err != nil {
		return err
	}
	m, err := g.store.getManifest(repo, digest)
	if errors.Is(err, fs.ErrNotExist) {
		return newError(http.StatusNotFound, codeManifestUnknown, "manifest %s is unknown to repository %s", rt.arg, repo)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", m.mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
	w.Header().Set("Docker-Content-Digest", m.digest)
	w.Header().Set("Etag", `"`+m.digest+`"`)
	if r.Method == http.MethodHead {
		return nil
	}
	w.Write(m.data) //nolint:errcheck // the client went away
	return nil
}

// putManifest stores a manifest under a tag or its digest, once the blobs or manifests it
// references are in the repository.
func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	if err := checkRef(rt.arg); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return newError(http.StatusBadRequest, codeManifestInvalid, "read manifest: %v", err)
	}
	if len(data) > maxManifestSize {
		return newError(http.StatusRequestEntityTooLarge, codeSizeInvalid, "manifest is larger than %d bytes", maxManifestSize)
	}
	digest, tags := digestOf("sha256", data), []string{rt.arg}
	if isDigest(rt.arg) {
		alg, _ := parseDigest(rt.arg) // checked by checkRef
		digest = digestOf(alg, data)
		if rt.arg != digest {
			return newError(http.StatusBadRequest, codeDigestInvalid, "the manifest's digest is %s, not %s", digest, rt.arg)
		}
		// A push by digest may tag the manifest too: ?tag=a&tag=b (distribution-spec v1.1.1).
		tags = r.URL.Query()["tag"]
		for _, t := range tags {
			if !validTag(t) {
				return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", t)
			}
		}
	}
	var body manifestBody
	if err := json.Unmarshal(data, &body); err != nil {
		return newError(http.StatusBadRequest, codeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	mediaType, err := manifestMediaType(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	if err := g.checkReferences(repo, mediaType, body); err != nil {
		return err
	}
	subject := ""
	if body.Subject != nil {
		if _, err := parseDigest(body.Subject.Digest); err != nil {
			return newError(http.StatusBadRequest, codeManifestInvalid, "invalid subject digest %q", body.Subject.Digest)
		}
		subject = body.Subject.Digest
	}
	if err := g.store.putManifest(repo, &manifest{digest: digest, mediaType: mediaType, data: data}, tags, subject); err != nil {
		return err
	}
	if isDigest(rt.arg) {
		for _, t := range tags {
			w.Header().Add("OCI-Tag", t)
		}
	}
	if subject != "" {
		w.Header().Set("OCI-Subject", subject)
	}
	w.Header().Set("Location", location(r, rt, "/manifests/"+digest))
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// manifestMediaType is the media type to store a manifest under: the request's
// Content-Type, which must agree with the manifest's own mediaType field.
func manifestMediaType(contentType string, body manifestBody) (string, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "" || mt == "application/octet-stream" || mt == "application/json" {
		mt = body.MediaType
	}
	if mt == "" {
		mt = mediaTypeOCIManifest
		if body.Manifests != nil {
			mt = mediaTypeOCIIndex
		}
	}
	if body.MediaType != "" && body.MediaType != mt {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, "Content-Type %s does not match the manifest's mediaType %s", mt, body.MediaType)
	}
	if !isImageManifest(mt) && !isIndex(mt) {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, "unsupported manifest media type %q", mt)
	}
	if body.SchemaVersion != 2 {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, "schemaVersion is %d, not 2", body.SchemaVersion)
	}
	return mt, nil
}

// checkReferences checks that an image manifest's config and layers are blobs of repo and
// that an index's manifests are manifests of repo.
func (g *Registry) checkReferences(repo, mediaType string, body manifestBody) error {
	if isIndex(mediaType) {
		for _, d := range body.Manifests {
			if _, err := parseDigest(d.Digest); err != nil {
				return newError(http.StatusBadRequest, codeManifestInvalid, "invalid digest %q in manifests", d.Digest)
			}
			if !exists(g.store.manifestLink(repo, d.Digest)) {
				e := newError(http.StatusBadRequest, codeManifestUnknown, "manifest %s is unknown to repository %s", d.Digest, repo)
				e.detail = map[string]string{"digest": d.Digest}
				return e
			}
		}
		return nil
	}
	if body.Config == nil {
		return newError(http.StatusBadRequest, codeManifestInvalid, "image manifest has no config")
	}
	for _, d := range append([]descriptor{*body.Config}, body.Layers...) {
		if _, err := parseDigest(d.Digest); err != nil {
			return newError(http.StatusBadRequest, codeManifestInvalid, "invalid blob digest %q", d.Digest)
		}
		if !g.store.repoHasBlob(repo, d.Digest) && !nonDistributable(d) {
			e := newError(http.StatusBadRequest, codeManifestBlobUnknown, "blob %s is unknown to repository %s", d.Digest, repo)
			e.detail = map[string]string{"digest": d.Digest}
			return e
		}
	}
	return nil
}

// deleteManifest deletes a manifest by digest (with its tags) or just a tag.
func (g *Registry) deleteManifest(w http.ResponseWriter, _ *http.Request, repo string, rt route) error {
	digest, err := g.resolveRef(repo, rt.arg)
	if err != nil {
		return err
	}
	if !isDigest(rt.arg) {
		err = g.store.deleteTag(repo, rt.arg)
	} else {
		var m *manifest
		if m, err = g.store.getManifest(repo, digest); err == nil {
			var body manifestBody
			subject := ""
			if json.Unmarshal(m.data, &body) == nil && body.Subject != nil {
				subject = body.Subject.Digest
			}
			err = g.store.deleteManifest(repo, digest, subject)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return newError(http.StatusNotFound, codeManifestUnknown, "manifest %s is unknown to repository %s", rt.arg, repo)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// nonDistributable reports whether a layer is one that registries need not hold (foreign
// layers, which clients fetch from their URLs).
func nonDistributable(d descriptor) bool {
	return len(d.URLs) > 0 || strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, ".foreign.")
}
