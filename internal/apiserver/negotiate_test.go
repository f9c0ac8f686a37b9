package apiserver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/internal/registry"
)

const (
	acceptTyped    = "application/vnd.kubernetes.protobuf,application/json"
	acceptKubectl  = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	acceptMetaList = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)

func TestNegotiate(t *testing.T) {
	c := newCodecs(registry.Scheme(), registry.Codecs)
	for _, tc := range []struct {
		name   string
		accept string
		watch  bool
		media  string // "" when the answer is 406
		as     string
	}{
		{name: "no Accept header", accept: "", media: "application/json"},
		{name: "anything", accept: "*/*", media: "application/json"},
		{name: "any application type", accept: "application/*", media: "application/json"},
		{name: "JSON", accept: "application/json", media: "application/json"},
		{name: "YAML", accept: "application/yaml", media: "application/yaml"},
		{name: "typed client", accept: acceptTyped, media: "application/vnd.kubernetes.protobuf"},
		{name: "JSON listed first", accept: "application/json,application/vnd.kubernetes.protobuf", media: "application/json"},
		{name: "q-value outranks order", accept: "application/json;q=0.5,application/vnd.kubernetes.protobuf", media: "application/vnd.kubernetes.protobuf"},
		{name: "unknown type then JSON", accept: "text/html,application/json", media: "application/json"},
		{name: "kubectl get", accept: acceptKubectl, media: "application/json", as: "Table"},
		{name: "no protobuf Table", accept: "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", media: "application/json"},
		{name: "metadata client", accept: acceptMetaList, media: "application/vnd.kubernetes.protobuf", as: "PartialObjectMetadataList"},
		{name: "metadata as JSON", accept: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", media: "application/json", as: "PartialObjectMetadata"},
		{name: "unknown conversion", accept: "application/json;as=Pod;g=meta.k8s.io;v=v1"},
		{name: "conversion outside meta.k8s.io", accept: "application/json;as=Table;g=apps;v=v1"},
		{name: "nothing acceptable", accept: "text/html"},
		{name: "protobuf watch", accept: acceptTyped, watch: true, media: "application/vnd.kubernetes.protobuf"},
		{name: "kubectl get --watch", accept: acceptKubectl, watch: true, media: "application/json", as: "Table"},
		{name: "YAML cannot be streamed", accept: "application/yaml", watch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			out, err := c.negotiate(r, resourceEndpoint{}, tc.watch)
			if tc.media == "" {
				if !apierrors.IsNotAcceptable(err) {
					t.Fatalf("negotiate(%q) = %+v, %v; want 406 Not Acceptable", tc.accept, out, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("negotiate(%q): %v", tc.accept, err)
			}
			as := ""
			if out.as != nil {
				as = out.as.Kind
			}
			if out.media != tc.media || as != tc.as {
				t.Errorf("negotiate(%q) = %s as %q, want %s as %q", tc.accept, out.media, as, tc.media, tc.as)
			}
		})
	}
}

func TestNotAcceptableListsMediaTypes(t *testing.T) {
	c := newCodecs(registry.Scheme(), registry.Codecs)
	r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
	r.Header.Set("Accept", "text/html")
	_, err := c.negotiate(r, resourceEndpoint{}, false)
	want := "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	_, err = c.negotiate(r, resourceEndpoint{}, true)
	want = "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
	if err == nil || err.Error() != want {
		t.Errorf("watch error = %v, want %q", err, want)
	}
}

// Errors are Status objects, which are never converted: a client that asks for metadata only
// gets its error in the first plain media type it accepts, and one that accepts nothing gets
// JSON, as from kube-apiserver.
func TestErrorOutput(t *testing.T) {
	c := newCodecs(registry.Scheme(), registry.Codecs)
	for accept, want := range map[string]string{
		acceptTyped:    "application/vnd.kubernetes.protobuf",
		acceptMetaList: "application/json",
		acceptKubectl:  "application/json",
		"text/html":    "application/json",
		"":             "application/json",
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		r.Header.Set("Accept", accept)
		if got := c.errorOutput(r); got.media != want || got.as != nil {
			t.Errorf("errorOutput(%q) = %s (as %v), want %s", accept, got.media, got.as, want)
		}
	}
}

// Every kind served, and its list, has a protobuf form: a protobuf answer never fails to encode.
func TestEveryKindEncodesAsProtobuf(t *testing.T) {
	c := newCodecs(registry.Scheme(), registry.Codecs)
	for _, k := range registry.Kinds() {
		listGVK := k.GroupVersionKind
		listGVK.Kind += "List"
		if _, err := c.encodeBytes(runtime.ContentTypeProtobuf, k.New(), k.GroupVersionKind); err != nil {
			t.Errorf("%s: %v", k.GroupVersionKind, err)
		}
		if _, err := c.encodeBytes(runtime.ContentTypeProtobuf, k.NewList(), listGVK); err != nil {
			t.Errorf("%s: %v", listGVK, err)
		}
	}
}
