package registryserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is a registry on a temporary directory behind an httptest server.
type testRegistry struct {
	t    *testing.T
	dir  string
	srv  *httptest.Server
	host string // host:port, for go-containerregistry references
}

func newTestRegistry(t *testing.T, opts Options) *testRegistry {
	t.Helper()
	return startTestRegistry(t, t.TempDir(), opts)
}

func startTestRegistry(t *testing.T, dir string, opts Options) *testRegistry {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := New(dir, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &testRegistry{t: t, dir: dir, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

// do sends a request and returns the response with its body read.
func (r *testRegistry) do(method, path string, body []byte, header ...string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, b
}

// want checks a response's status.
func (r *testRegistry) want(method, path string, body []byte, status int, header ...string) (*http.Response, []byte) {
	r.t.Helper()
	resp, b := r.do(method, path, body, header...)
	if resp.StatusCode != status {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	return resp, b
}

// wantError checks that a request fails with the spec's error code and status.
func (r *testRegistry) wantError(method, path string, body []byte, status int, code string, header ...string) {
	r.t.Helper()
	resp, b := r.do(method, path, body, header...)
	var e struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) == 0 {
		r.t.Fatalf("%s %s: body %q is no error list (%v)", method, path, b, err)
	}
	if resp.StatusCode != status || e.Errors[0].Code != code {
		r.t.Fatalf("%s %s: %d %s (%s), want %d %s", method, path, resp.StatusCode, e.Errors[0].Code, e.Errors[0].Message, status, code)
	}
}

// pushBlob uploads data monolithically to repo and returns its digest.
func (r *testRegistry) pushBlob(repo string, data []byte) string {
	r.t.Helper()
	d := digestOf("sha256", data)
	r.want("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, data, http.StatusCreated)
	return d
}

// pushManifest puts a manifest (a JSON-able value) under ref and returns its digest.
func (r *testRegistry) pushManifest(repo, ref, mediaType string, m any) (string, *http.Response) {
	r.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, _ := r.want("PUT", "/v2/"+repo+"/manifests/"+ref, b, http.StatusCreated, "Content-Type", mediaType)
	return digestOf("sha256", b), resp
}

// image pushes a config and one layer and returns an OCI image manifest for them.
func (r *testRegistry) image(repo string, extra map[string]any) map[string]any {
	r.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("layer of " + repo)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeOCIManifest,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": r.pushBlob(repo, cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": r.pushBlob(repo, layer), "size": len(layer)}},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestBase(t *testing.T) {
	r := newTestRegistry(t, Options{})
	resp, _ := r.want("GET", "/v2/", nil, http.StatusOK)
	if got := resp.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Errorf("Docker-Distribution-API-Version = %q", got)
	}
}

func TestPushPullWithGoContainerRegistry(t *testing.T) {
	r := newTestRegistry(t, Options{})
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.host+"/docker.io/library/nginx:1.27", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	wantDigest, _ := img.Digest()
	if d, _ := got.Digest(); d != wantDigest {
		t.Errorf("pulled digest %s, pushed %s", d, wantDigest)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 3 {
		t.Fatalf("pulled %d layers (%v), want 3", len(layers), err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("pull layer: %v", err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}

	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	iref, _ := name.ParseReference(r.host+"/multi/arch:v1", name.Insecure)
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	desc, err := remote.Get(iref)
	if err != nil {
		t.Fatalf("get index: %v", err)
	}
	wantIdx, _ := idx.Digest()
	if desc.Digest != wantIdx || !desc.MediaType.IsIndex() {
		t.Errorf("index pulled as %s %s, want %s", desc.MediaType, desc.Digest, wantIdx)
	}
}

func TestChunkedUpload(t *testing.T) {
	r := newTestRegistry(t, Options{})
	data := []byte("0123456789abcdefghij")
	digest := digestOf("sha256", data)

	resp, _ := r.want("POST", "/v2/a/b/blobs/uploads/", nil, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/a/b/blobs/uploads/") {
		t.Fatalf("Location %q", loc)
	}
	resp, _ = r.want("PATCH", loc, data[:10], http.StatusAccepted, "Content-Range", "0-9", "Content-Type", "application/octet-stream")
	if got := resp.Header.Get("Range"); got != "0-9" {
		t.Errorf("Range after the first chunk = %q, want 0-9", got)
	}
	loc = resp.Header.Get("Location")
	// A chunk that does not start where the upload ends is refused.
	r.wantError("PATCH", loc, data[15:], http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "Content-Range", "15-19")
	resp, _ = r.want("GET", loc, nil, http.StatusNoContent)
	if got := resp.Header.Get("Range"); got != "0-9" {
		t.Errorf("status Range = %q, want 0-9", got)
	}
	resp, _ = r.want("PATCH", loc, data[10:15], http.StatusAccepted, "Content-Range", "10-14")
	loc = resp.Header.Get("Location")
	// A wrong digest fails; the registry stores nothing under it.
	wrong := digestOf("sha256", []byte("other"))
	r.wantError("PUT", loc+"?digest="+wrong, data[15:], http.StatusBadRequest, codeDigestInvalid)
	r.wantError("GET", "/v2/a/b/blobs/"+wrong, nil, http.StatusNotFound, codeBlobUnknown)

	// Start over and finish with the last chunk in the PUT.
	resp, _ = r.want("POST", "/v2/a/b/blobs/uploads/", nil, http.StatusAccepted)
	loc = resp.Header.Get("Location")
	resp, _ = r.want("PATCH", loc, data[:15], http.StatusAccepted)
	loc = resp.Header.Get("Location")
	resp, _ = r.want("PUT", loc+"?digest="+digest, data[15:], http.StatusCreated, "Content-Range", "15-19")
	if resp.Header.Get("Docker-Content-Digest") != digest || resp.Header.Get("Location") != "/v2/a/b/blobs/"+digest {
		t.Errorf("PUT headers %v", resp.Header)
	}
	r.wantError("GET", loc, nil, http.StatusNotFound, codeBlobUploadUnknown)

	resp, body := r.want("GET", "/v2/a/b/blobs/"+digest, nil, http.StatusOK)
	if !bytes.Equal(body, data) || resp.Header.Get("Docker-Content-Digest") != digest || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET blob: %q %v", body, resp.Header)
	}
	resp, _ = r.want("HEAD", "/v2/a/b/blobs/"+digest, nil, http.StatusOK)
	if resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD Content-Length %d, want %d", resp.ContentLength, len(data))
	}
	_, body = r.want("GET", "/v2/a/b/blobs/"+digest, nil, http.StatusPartialContent, "Range", "bytes=2-4")
	if string(body) != "234" {
		t.Errorf("range GET = %q", body)
	}

	// A cancelled upload is gone.
	resp, _ = r.want("POST", "/v2/a/b/blobs/uploads/", nil, http.StatusAccepted)
	loc = resp.Header.Get("Location")
	r.want("DELETE", loc, nil, http.StatusNoContent)
	r.wantError("PATCH", loc, data, http.StatusNotFound, codeBlobUploadUnknown)
}

func TestMount(t *testing.T) {
	r := newTestRegistry(t, Options{})
	digest := r.pushBlob("src/repo", []byte("shared layer"))
	resp, _ := r.want("POST", "/v2/dst/repo/blobs/uploads/?mount="+digest+"&from=src/repo", nil, http.StatusCreated)
	if resp.Header.Get("Location") != "/v2/dst/repo/blobs/"+digest || resp.Header.Get("Docker-Content-Digest") != digest {
		t.Errorf("mount headers %v", resp.Header)
	}
	r.want("GET", "/v2/dst/repo/blobs/"+digest, nil, http.StatusOK)

	// A blob the source does not have starts an upload instead.
	missing := digestOf("sha256", []byte("missing"))
	resp, _ = r.want("POST", "/v2/dst/repo/blobs/uploads/?mount="+missing+"&from=src/repo", nil, http.StatusAccepted)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/v2/dst/repo/blobs/uploads/") {
		t.Errorf("fallback upload Location %q", resp.Header.Get("Location"))
	}
}

func TestDelete(t *testing.T) {
	r := newTestRegistry(t, Options{})
	m := r.image("app", nil)
	digest, _ := r.pushManifest("app", "v1", mediaTypeOCIManifest, m)
	r.pushManifest("app", "v2", mediaTypeOCIManifest, m)

	// Deleting a tag leaves the manifest and the other tag.
	r.want("DELETE", "/v2/app/manifests/v1", nil, http.StatusAccepted)
	r.wantError("GET", "/v2/app/manifests/v1", nil, http.StatusNotFound, codeManifestUnknown)
	r.want("GET", "/v2/app/manifests/v2", nil, http.StatusOK)

	// Deleting by digest removes the manifest and every tag of it.
	r.want("DELETE", "/v2/app/manifests/"+digest, nil, http.StatusAccepted)
	r.wantError("GET", "/v2/app/manifests/"+digest, nil, http.StatusNotFound, codeManifestUnknown)
	r.wantError("GET", "/v2/app/manifests/v2", nil, http.StatusNotFound, codeManifestUnknown)
	r.wantError("DELETE", "/v2/app/manifests/"+digest, nil, http.StatusNotFound, codeManifestUnknown)
	_, body := r.want("GET", "/v2/app/tags/list", nil, http.StatusOK)
	if string(body) != `{"name":"app","tags":[]}` {
		t.Errorf("tags after delete: %s", body)
	}

	layer := m["layers"].([]any)[0].(map[string]any)["digest"].(string)
	r.want("DELETE", "/v2/app/blobs/"+layer, nil, http.StatusAccepted)
	r.wantError("GET", "/v2/app/blobs/"+layer, nil, http.StatusNotFound, codeBlobUnknown)
	r.wantError("DELETE", "/v2/app/blobs/"+layer, nil, http.StatusNotFound, codeBlobUnknown)
}

func TestManifestMediaTypeAndHeaders(t *testing.T) {
	r := newTestRegistry(t, Options{})
	m := r.image("d", nil)
	m["mediaType"] = mediaTypeDockerManifest
	digest, resp := r.pushManifest("d", "latest", mediaTypeDockerManifest, m)
	if resp.Header.Get("Location") != "/v2/d/manifests/"+digest || resp.Header.Get("Docker-Content-Digest") != digest {
		t.Errorf("PUT headers %v", resp.Header)
	}
	for _, ref := range []string{"latest", digest} {
		resp, body := r.want("GET", "/v2/d/manifests/"+ref, nil, http.StatusOK)
		if resp.Header.Get("Content-Type") != mediaTypeDockerManifest || resp.Header.Get("Docker-Content-Digest") != digest || digestOf("sha256", body) != digest {
			t.Errorf("GET %s: %v", ref, resp.Header)
		}
		resp, body = r.want("HEAD", "/v2/d/manifests/"+ref, nil, http.StatusOK)
		if len(body) != 0 || resp.Header.Get("Content-Type") != mediaTypeDockerManifest || resp.ContentLength <= 0 {
			t.Errorf("HEAD %s: %v, body %q", ref, resp.Header, body)
		}
	}
	// An index of that manifest.
	idx := map[string]any{"schemaVersion": 2, "mediaType": mediaTypeDockerList,
		"manifests": []any{map[string]any{"mediaType": mediaTypeDockerManifest, "digest": digest, "size": 1}}}
	r.pushManifest("d", "list", mediaTypeDockerList, idx)
	resp, _ = r.want("GET", "/v2/d/manifests/list", nil, http.StatusOK)
	if resp.Header.Get("Content-Type") != mediaTypeDockerList {
		t.Errorf("index Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

func TestTagsPagination(t *testing.T) {
	r := newTestRegistry(t, Options{})
	m := r.image("p", nil)
	for _, tag := range []string{"e", "a", "d", "b", "c"} {
		r.pushManifest("p", tag, mediaTypeOCIManifest, m)
	}
	var pages []string
	path := "/v2/p/tags/list?n=2"
	for path != "" {
		resp, body := r.want("GET", path, nil, http.StatusOK)
		var list struct {
			Name string
			Tags []string
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, strings.Join(list.Tags, ","))
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			if !strings.HasSuffix(link, `>; rel="next"`) {
				t.Fatalf("Link %q", link)
			}
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if got := strings.Join(pages, " | "); got != "a,b | c,d | e" {
		t.Errorf("pages = %q, want %q", got, "a,b | c,d | e")
	}
	_, body := r.want("GET", "/v2/p/tags/list?last=c", nil, http.StatusOK)
	if string(body) != `{"name":"p","tags":["d","e"]}` {
		t.Errorf("tags after c: %s", body)
	}
	r.wantError("GET", "/v2/nothing/here/tags/list", nil, http.StatusNotFound, codeNameUnknown)
	// A repository is not known because one below it is.
	r.pushBlob("parent/child", []byte("x"))
	r.wantError("GET", "/v2/parent/tags/list", nil, http.StatusNotFound, codeNameUnknown)
}

func TestReferrers(t *testing.T) {
	r := newTestRegistry(t, Options{})
	subject, _ := r.pushManifest("ref", "v1", mediaTypeOCIManifest, r.image("ref", nil))
	subjectDesc := map[string]any{"mediaType": mediaTypeOCIManifest, "digest": subject, "size": 1}
	emptyCfg := r.pushBlob("ref", []byte("{}"))
	sbom := map[string]any{"schemaVersion": 2, "mediaType": mediaTypeOCIManifest, "artifactType": "application/spdx+json",
		"config":  map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": emptyCfg, "size": 2},
		"layers":  []any{},
		"subject": subjectDesc, "annotations": map[string]string{"org.example": "sbom"}}
	sbomDigest, resp := r.pushManifest("ref", digestOf("sha256", mustJSON(t, sbom)), mediaTypeOCIManifest, sbom)
	if resp.Header.Get("OCI-Subject") != subject {
		t.Errorf("OCI-Subject = %q, want %s", resp.Header.Get("OCI-Subject"), subject)
	}
	sig := r.image("ref", map[string]any{"subject": subjectDesc})
	sig["config"].(map[string]any)["mediaType"] = "application/vnd.example.signature"
	sigDigest, _ := r.pushManifest("ref", digestOf("sha256", mustJSON(t, sig)), mediaTypeOCIManifest, sig)

	type index struct {
		MediaType string
		Manifests []descriptor
	}
	list := func(query string) (index, http.Header) {
		resp, body := r.want("GET", "/v2/ref/referrers/"+subject+query, nil, http.StatusOK)
		var idx index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Type") != mediaTypeOCIIndex || idx.MediaType != mediaTypeOCIIndex {
			t.Errorf("referrers media type %q / %q", resp.Header.Get("Content-Type"), idx.MediaType)
		}
		return idx, resp.Header
	}
	all, h := list("")
	types := map[string]string{}
	for _, d := range all.Manifests {
		types[d.Digest] = d.ArtifactType
	}
	if len(all.Manifests) != 2 || types[sbomDigest] != "application/spdx+json" || types[sigDigest] != "application/vnd.example.signature" || h.Get("OCI-Filters-Applied") != "" {
		t.Errorf("referrers = %+v", all.Manifests)
	}
	filtered, h := list("?artifactType=" + url.QueryEscape("application/spdx+json"))
	if len(filtered.Manifests) != 1 || filtered.Manifests[0].Digest != sbomDigest || filtered.Manifests[0].Annotations["org.example"] != "sbom" || h.Get("OCI-Filters-Applied") != "artifactType" {
		t.Errorf("filtered referrers = %+v, %v", filtered.Manifests, h)
	}
	// A deleted referrer is no longer listed.
	r.want("DELETE", "/v2/ref/manifests/"+sbomDigest, nil, http.StatusAccepted)
	if after, _ := list(""); len(after.Manifests) != 1 || after.Manifests[0].Digest != sigDigest {
		t.Errorf("referrers after delete = %+v", after.Manifests)
	}
	// go-containerregistry reads the API too.
	d, _ := name.NewDigest(r.host+"/ref@"+subject, name.Insecure)
	ri, err := remote.Referrers(d)
	if err != nil {
		t.Fatalf("remote.Referrers: %v", err)
	}
	if im, _ := ri.IndexManifest(); len(im.Manifests) != 1 {
		t.Errorf("remote.Referrers = %+v", im.Manifests)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNamespaceMapping(t *testing.T) {
	r := newTestRegistry(t, Options{OwnNames: []string{"localhost:5000"}})
	m := r.image("docker.io/library/nginx", nil)
	digest, _ := r.pushManifest("docker.io/library/nginx", "1.27", mediaTypeOCIManifest, m)
	m2 := r.image("gantry/pause", nil)
	r.pushManifest("gantry/pause", "1", mediaTypeOCIManifest, m2)

	// containerd, using the registry as a mirror of docker.io, asks for library/nginx.
	resp, _ := r.want("GET", "/v2/library/nginx/manifests/1.27?ns=docker.io", nil, http.StatusOK)
	if resp.Header.Get("Docker-Content-Digest") != digest {
		t.Errorf("mirrored manifest %s, want %s", resp.Header.Get("Docker-Content-Digest"), digest)
	}
	layer := m["layers"].([]any)[0].(map[string]any)["digest"].(string)
	r.want("GET", "/v2/library/nginx/blobs/"+layer+"?ns=docker.io", nil, http.StatusOK)
	// The registry's own name maps to the repository as named.
	r.want("GET", "/v2/gantry/pause/manifests/1?ns=localhost:5000", nil, http.StatusOK)
	r.wantError("GET", "/v2/gantry/pause/manifests/1?ns=quay.io", nil, http.StatusNotFound, codeManifestUnknown)
	r.wantError("GET", "/v2/library/nginx/manifests/1.27", nil, http.StatusNotFound, codeManifestUnknown)
	// Uploads through a mirror name keep it in their Location.
	resp, _ = r.want("POST", "/v2/x/blobs/uploads/?ns=quay.io", nil, http.StatusAccepted)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/v2/x/blobs/uploads/") || !strings.HasSuffix(loc, "?ns=quay.io") {
		t.Errorf("upload Location %q", loc)
	}
}

func TestBadInput(t *testing.T) {
	r := newTestRegistry(t, Options{})
	m := r.image("ok", nil)
	r.pushManifest("ok", "v1", mediaTypeOCIManifest, m)
	missing := digestOf("sha256", []byte("missing"))
	missingBlob := r.image("ok", nil)
	missingBlob["layers"] = []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": missing, "size": 7}}
	missingChild := map[string]any{"schemaVersion": 2, "mediaType": mediaTypeOCIIndex,
		"manifests": []any{map[string]any{"mediaType": mediaTypeOCIManifest, "digest": missing, "size": 7}}}
	oci := []string{"Content-Type", mediaTypeOCIManifest}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		header             []string
		status             int
		code               string
	}{
		{"upper-case name", "GET", "/v2/Bad/manifests/v1", nil, nil, 400, codeNameInvalid},
		{"name with double dot", "GET", "/v2/a/../b/manifests/v1", nil, nil, 400, codeNameInvalid},
		{"name ending in a separator", "GET", "/v2/a-/tags/list", nil, nil, 400, codeNameInvalid},
		{"no endpoint", "GET", "/v2/a/b", nil, nil, 404, codeUnsupported},
		{"invalid blob digest", "GET", "/v2/ok/blobs/sha256:xyz", nil, nil, 400, codeDigestInvalid},
		{"short digest", "GET", "/v2/ok/blobs/sha256:abcd", nil, nil, 400, codeDigestInvalid},
		{"unknown algorithm", "GET", "/v2/ok/blobs/md5:0123456789abcdef", nil, nil, 400, codeUnsupported},
		{"unknown blob", "GET", "/v2/ok/blobs/" + missing, nil, nil, 404, codeBlobUnknown},
		{"unknown manifest", "GET", "/v2/ok/manifests/nope", nil, nil, 404, codeManifestUnknown},
		{"invalid tag", "PUT", "/v2/ok/manifests/-bad", mustJSON(t, m), oci, 400, codeTagInvalid},
		{"invalid digest reference", "GET", "/v2/ok/manifests/sha256:zz", nil, nil, 400, codeDigestInvalid},
		{"monolithic digest mismatch", "POST", "/v2/ok/blobs/uploads/?digest=" + missing, []byte("other"), nil, 400, codeDigestInvalid},
		{"unknown upload", "PATCH", "/v2/ok/blobs/uploads/0123456789abcdef0123456789abcdef", []byte("x"), nil, 404, codeBlobUploadUnknown},
		{"upload id with a path", "PATCH", "/v2/ok/blobs/uploads/..", []byte("x"), nil, 404, codeBlobUploadUnknown},
		{"close without digest", "PUT", "/v2/ok/blobs/uploads/0123456789abcdef0123456789abcdef", nil, nil, 404, codeBlobUploadUnknown},
		{"manifest not JSON", "PUT", "/v2/ok/manifests/v2", []byte("{"), oci, 400, codeManifestInvalid},
		{"manifest media type mismatch", "PUT", "/v2/ok/manifests/v2", mustJSON(t, m), []string{"Content-Type", mediaTypeOCIIndex}, 400, codeManifestInvalid},
		{"manifest with missing layer", "PUT", "/v2/ok/manifests/v2", mustJSON(t, missingBlob), oci, 400, codeManifestBlobUnknown},
		{"index with missing child", "PUT", "/v2/ok/manifests/v2", mustJSON(t, missingChild), []string{"Content-Type", mediaTypeOCIIndex}, 400, codeManifestUnknown},
		{"manifest digest mismatch", "PUT", "/v2/ok/manifests/" + missing, mustJSON(t, m), oci, 400, codeDigestInvalid},
		{"tags of unknown repository", "GET", "/v2/none/tags/list", nil, nil, 404, codeNameUnknown},
		{"invalid n", "GET", "/v2/ok/tags/list?n=-1", nil, nil, 400, codeUnsupported},
		{"referrers of invalid digest", "GET", "/v2/ok/referrers/latest", nil, nil, 400, codeDigestInvalid},
		{"unsupported method", "POST", "/v2/ok/manifests/v1", nil, nil, 405, codeUnsupported},
		{"invalid mount digest", "POST", "/v2/ok/blobs/uploads/?mount=nope&from=ok", nil, nil, 400, codeDigestInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.wantError(tc.method, tc.path, tc.body, tc.status, tc.code, tc.header...)
		})
	}
}

func TestRestartKeepsContent(t *testing.T) {
	dir := t.TempDir()
	first := startTestRegistry(t, dir, Options{})
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(first.host+"/kept/image:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	resp, _ := first.want("POST", "/v2/kept/image/blobs/uploads/", nil, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	first.want("PATCH", loc, []byte("half"), http.StatusAccepted)
	first.srv.Close()

	second := startTestRegistry(t, dir, Options{})
	ref, _ = name.ParseReference(second.host+"/kept/image:v1", name.Insecure)
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull after restart: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("after restart the tag points to %s, want %s", d, want)
	}
	// An upload in progress carries on.
	resp, _ = second.want("GET", loc, nil, http.StatusNoContent)
	if resp.Header.Get("Range") != "0-3" {
		t.Errorf("upload Range after restart %q", resp.Header.Get("Range"))
	}
	second.want("PUT", loc+"?digest="+digestOf("sha256", []byte("half done")), []byte(" done"), http.StatusCreated)
}

func TestConcurrentPushes(t *testing.T) {
	r := newTestRegistry(t, Options{})
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ref, _ := name.ParseReference(fmt.Sprintf("%s/same/image:t%d", r.host, i), name.Insecure)
			errs <- remote.Write(ref, img)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent push: %v", err)
		}
	}
	_, body := r.want("GET", "/v2/same/image/tags/list", nil, http.StatusOK)
	if string(body) != `{"name":"same/image","tags":["t0","t1","t2","t3","t4","t5","t6","t7"]}` {
		t.Errorf("tags = %s", body)
	}
}
