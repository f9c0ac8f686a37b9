package registryserver

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// listTags serves GET /v2/<name>/tags/list, in lexical order, paginated by n and last.
func (g *Registry) listTags(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	if !g.store.repoExists(repo) {
		return newError(http.StatusNotFound, codeNameUnknown, "repository %s is unknown", repo)
	}
	tags, err := g.store.tags(repo)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
		tags = tags[i:]
	}
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return newError(http.StatusBadRequest, codeUnsupported, "invalid n %q", ns)
		}
		if n < len(tags) {
			tags = tags[:n]
			if n > 0 {
				next := url.Values{"n": {ns}, "last": {tags[n-1]}}
				if h := q.Get("ns"); h != "" {
					next.Set("ns", h)
				}
				w.Header().Set("Link", `</v2/`+rt.name+`/tags/list?`+next.Encode()+`>; rel="next"`)
			}
		}
	}
	if tags == nil {
		tags = []string{}
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// listReferrers serves GET /v2/<name>/referrers/<digest>: an image index of the manifests
// whose subject is digest, filtered by ?artifactType=.
func (g *Registry) listReferrers(w http.ResponseWriter, r *http.Request, repo string, rt route) error {
	if _, err := parseDigest(rt.arg); err != nil {
		return err
	}
	digests, err := g.store.referrers(repo, rt.arg)
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	descs := []descriptor{}
	for _, d := range digests {
		m, err := g.store.getManifest(repo, d)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we listed
		}
		if err != nil {
			return err
		}
		var body manifestBody
		if err := json.Unmarshal(m.data, &body); err != nil {
			continue
		}
		desc := descriptor{MediaType: m.mediaType, Digest: m.digest, Size: int64(len(m.data)), ArtifactType: body.ArtifactType, Annotations: body.Annotations}
		if desc.ArtifactType == "" && body.Config != nil {
			desc.ArtifactType = body.Config.MediaType
		}
		if filter != "" && desc.ArtifactType != filter {
			continue
		}
		descs = append(descs, desc)
	}
	sort.Slice(descs, func(i, j int) bool { return descs[i].Digest < descs[j].Digest })
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, mediaTypeOCIIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mediaTypeOCIIndex, descs})
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body) //nolint:errcheck // the client went away
	return nil
}
