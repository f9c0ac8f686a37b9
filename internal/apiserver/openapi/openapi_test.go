package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gantryhq/gantry/internal/registry"
)

// testKinds is a small served set covering namespaced and cluster-scoped kinds, two groups,
// the common subresources and a create-only kind.
func testKinds() []*registry.Kind {
	core := corev1.SchemeGroupVersion
	return []*registry.Kind{
		{
			GroupVersionKind: core.WithKind("Pod"), Resource: "pods", Singular: "pod", Namespaced: true,
			Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers", "resize"},
			New:          func() runtime.Object { return &corev1.Pod{} },
			NewList:      func() runtime.Object { return &corev1.PodList{} },
		},
		{
			GroupVersionKind: core.WithKind("ConfigMap"), Resource: "configmaps", Singular: "configmap", Namespaced: true,
			New:     func() runtime.Object { return &corev1.ConfigMap{} },
			NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
		},
		{
			GroupVersionKind: core.WithKind("Namespace"), Resource: "namespaces", Singular: "namespace",
			Subresources: []string{"status", "finalize"},
			New:          func() runtime.Object { return &corev1.Namespace{} },
			NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		},
		{
			GroupVersionKind: core.WithKind("Node"), Resource: "nodes", Singular: "node",
			Subresources: []string{"status"},
			New:          func() runtime.Object { return &corev1.Node{} },
			NewList:      func() runtime.Object { return &corev1.NodeList{} },
		},
		{
			GroupVersionKind: core.WithKind("Binding"), Resource: "bindings", Singular: "binding", Namespaced: true,
			New: func() runtime.Object { return &corev1.Binding{} },
		},
		{
			GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Resource: "deployments", Singular: "deployment", Namespaced: true,
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.Deployment{} },
			NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
			Scale:        &registry.Scaler{},
		},
	}
}

// newTestServer serves a Service for testKinds the way the API server mounts it.
func newTestServer(t *testing.T) (*Service, *httptest.Server) {
	t.Helper()
	start := time.Now()
	svc, err := New(scheme.Scheme, testKinds(), WithInfo("Gantry", "v1.37.2"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Logf("New: %v", time.Since(start))
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return svc, srv
}

func get(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, body := get(t, url, "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return doc
}

// at walks a decoded JSON document.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func gvkMap(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// paramNames lists the parameters of an operation and of its path, resolving v2 references to
// shared parameters ("#/parameters/...").
func paramNames(doc map[string]any, path, method, in string) []string {
	var names []string
	collect := func(params any) {
		list, _ := params.([]any)
		for _, p := range list {
			if ref, ok := at(p, "$ref").(string); ok {
				p = at(doc, "parameters", strings.TrimPrefix(ref, "#/parameters/"))
			}
			if at(p, "in") == in {
				names = append(names, at(p, "name").(string))
			}
		}
	}
	collect(at(doc, "paths", path, "parameters"))
	collect(at(doc, "paths", path, method, "parameters"))
	slices.Sort(names)
	return names
}

var deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")

func TestV2(t *testing.T) {
	_, srv := newTestServer(t)
	start := time.Now()
	resp, body := get(t, srv.URL+PathV2, "application/json")
	t.Logf("first GET /openapi/v2: %v, %d bytes", time.Since(start), len(body))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi/v2: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}

	const item = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
	patch := at(doc, "paths", item, "patch")
	if patch == nil {
		t.Fatalf("no PATCH %s", item)
	}
	if got := at(patch, extensionGVK); !equalJSON(got, gvkMap(deploymentGVK)) {
		t.Errorf("PATCH %s: %s = %v", item, extensionGVK, got)
	}
	if got := at(patch, extensionAction); got != "patch" {
		t.Errorf("PATCH %s: %s = %v", item, extensionAction, got)
	}
	if got, want := paramNames(doc, item, "patch", "query"), []string{"dryRun", "fieldManager", "fieldValidation", "force", "pretty"}; !slices.Equal(got, want) {
		t.Errorf("PATCH %s: query parameters %v, want %v", item, got, want)
	}
	consumes, _ := at(patch, "consumes").([]any)
	for _, ct := range patchTypes {
		if !slices.Contains(consumes, any(ct)) {
			t.Errorf("PATCH %s: consumes %v, missing %s", item, consumes, ct)
		}
	}
	if got := at(doc, "definitions", "io.k8s.api.apps.v1.Deployment", extensionGVK); !equalJSON(got, []any{gvkMap(deploymentGVK)}) {
		t.Errorf("definition io.k8s.api.apps.v1.Deployment: %s = %v", extensionGVK, got)
	}
	if at(doc, "definitions", "io.k8s.api.apps.v1.Deployment", "properties", "spec") == nil {
		t.Errorf("definition io.k8s.api.apps.v1.Deployment has no spec")
	}

	// The paths and operations kube-apiserver documents, by operation ID.
	core := corev1.SchemeGroupVersion
	for _, tc := range []struct {
		path, method, id, action string
		gvk                      schema.GroupVersionKind
	}{
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "get", "listAppsV1NamespacedDeployment", "list", deploymentGVK},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "post", "createAppsV1NamespacedDeployment", "post", deploymentGVK},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "delete", "deleteAppsV1CollectionNamespacedDeployment", "deletecollection", deploymentGVK},
		{"/apis/apps/v1/deployments", "get", "listAppsV1DeploymentForAllNamespaces", "list", deploymentGVK},
		{item, "get", "readAppsV1NamespacedDeployment", "get", deploymentGVK},
		{item, "put", "replaceAppsV1NamespacedDeployment", "put", deploymentGVK},
		{item, "patch", "patchAppsV1NamespacedDeployment", "patch", deploymentGVK},
		{item, "delete", "deleteAppsV1NamespacedDeployment", "delete", deploymentGVK},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments", "get", "watchAppsV1NamespacedDeploymentList", "watchlist", deploymentGVK},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}", "get", "watchAppsV1NamespacedDeployment", "watch", deploymentGVK},
		{"/apis/apps/v1/watch/deployments", "get", "watchAppsV1DeploymentListForAllNamespaces", "watchlist", deploymentGVK},
		{item + "/status", "patch", "patchAppsV1NamespacedDeploymentStatus", "patch", deploymentGVK},
		{item + "/scale", "get", "readAppsV1NamespacedDeploymentScale", "get", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}},
		{item + "/scale", "put", "replaceAppsV1NamespacedDeploymentScale", "put", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}},
		{item + "/scale", "patch", "patchAppsV1NamespacedDeploymentScale", "patch", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}},
		{"/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", core.WithKind("Pod")},
		{"/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list", core.WithKind("Pod")},
		{"/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "createCoreV1NamespacedPodBinding", "post", core.WithKind("Binding")},
		{"/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readCoreV1NamespacedPodLog", "get", core.WithKind("Pod")},
		{"/api/v1/namespaces/{namespace}/pods/{name}/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect", core.WithKind("PodExecOptions")},
		{"/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers", "patch", "patchCoreV1NamespacedPodEphemeralcontainers", "patch", core.WithKind("Pod")},
		{"/api/v1/namespaces/{namespace}/bindings", "post", "createCoreV1NamespacedBinding", "post", core.WithKind("Binding")},
		{"/api/v1/nodes", "get", "listCoreV1Node", "list", core.WithKind("Node")},
		{"/api/v1/nodes/{name}", "patch", "patchCoreV1Node", "patch", core.WithKind("Node")},
		{"/api/v1/nodes/{name}/status", "get", "readCoreV1NodeStatus", "get", core.WithKind("Node")},
		{"/api/v1/namespaces/{name}/finalize", "put", "replaceCoreV1NamespaceFinalize", "put", core.WithKind("Namespace")},
	} {
		t.Run(tc.id, func(t *testing.T) {
			op := at(doc, "paths", tc.path, tc.method)
			if op == nil {
				t.Fatalf("no %s %s", tc.method, tc.path)
			}
			if got := at(op, "operationId"); got != tc.id {
				t.Errorf("operationId %v, want %s", got, tc.id)
			}
			if got := at(op, extensionAction); got != tc.action {
				t.Errorf("%s %v, want %s", extensionAction, got, tc.action)
			}
			if got := at(op, extensionGVK); !equalJSON(got, gvkMap(tc.gvk)) {
				t.Errorf("%s %v, want %v", extensionGVK, got, tc.gvk)
			}
		})
	}

	// A create-only kind has no list, item or watch paths.
	for _, p := range []string{"/api/v1/namespaces/{namespace}/bindings/{name}", "/api/v1/bindings"} {
		if at(doc, "paths", p) != nil {
			t.Errorf("create-only bindings: unexpected path %s", p)
		}
	}

	// ETag and conditional GET.
	etag := resp.Header.Get("Etag")
	if etag == "" {
		t.Fatal("no ETag on /openapi/v2")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+PathV2, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("If-None-Match", etag)
	cresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cresp.Body.Close()
	if cresp.StatusCode != http.StatusNotModified {
		t.Errorf("GET /openapi/v2 with If-None-Match: %s, want 304", cresp.Status)
	}
}

// TestV2Protobuf fetches /openapi/v2 the way client-go's discovery client does and decodes it
// with gnostic.
func TestV2Protobuf(t *testing.T) {
	_, srv := newTestServer(t)
	resp, body := get(t, srv.URL+PathV2, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v2 protobuf: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Errorf("Content-Type %q", ct)
	}
	t.Logf("protobuf /openapi/v2: %d bytes", len(body))
	doc := &openapi_v2.Document{}
	if err := proto.Unmarshal(body, doc); err != nil {
		t.Fatalf("decoding protobuf: %v", err)
	}
	var found bool
	for _, p := range doc.GetPaths().GetPath() {
		if p.GetName() == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}" {
			found = p.GetValue().GetPatch().GetOperationId() == "patchAppsV1NamespacedDeployment"
		}
	}
	if !found {
		t.Error("protobuf document lacks patchAppsV1NamespacedDeployment")
	}
	var deployment bool
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		deployment = deployment || d.GetName() == "io.k8s.api.apps.v1.Deployment"
	}
	if !deployment {
		t.Error("protobuf document lacks io.k8s.api.apps.v1.Deployment")
	}
}

func TestV3(t *testing.T) {
	svc, srv := newTestServer(t)
	if got, want := svc.GroupVersions(), []string{"api/v1", "apis/apps/v1"}; !slices.Equal(got, want) {
		t.Errorf("GroupVersions() = %v, want %v", got, want)
	}

	start := time.Now()
	root := getJSON(t, srv.URL+PathV3)
	t.Logf("first GET /openapi/v3 (builds every document): %v", time.Since(start))
	url, _ := at(root, "paths", "apis/apps/v1", "serverRelativeURL").(string)
	if !strings.HasPrefix(url, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("serverRelativeURL of apis/apps/v1 = %q", url)
	}
	if at(root, "paths", "api/v1", "serverRelativeURL") == nil {
		t.Errorf("/openapi/v3 lacks api/v1: %v", root)
	}

	resp, body := get(t, srv.URL+url, "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("GET %s: Cache-Control %q", url, cc)
	}
	t.Logf("apis/apps/v1: %d bytes", len(body))
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}

	const item = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
	patch := at(doc, "paths", item, "patch")
	if got := at(patch, extensionGVK); !equalJSON(got, gvkMap(deploymentGVK)) {
		t.Errorf("PATCH %s: %s = %v", item, extensionGVK, got)
	}
	if got := paramNames(doc, item, "patch", "query"); !slices.Contains(got, "fieldValidation") {
		t.Errorf("PATCH %s: query parameters %v lack fieldValidation", item, got)
	}
	content, _ := at(patch, "requestBody", "content").(map[string]any)
	for _, ct := range patchTypes {
		if _, ok := content[ct]; !ok {
			t.Errorf("PATCH %s: request body content lacks %s", item, ct)
		}
	}
	if got := at(doc, "components", "schemas", "io.k8s.api.apps.v1.Deployment", extensionGVK); !equalJSON(got, []any{gvkMap(deploymentGVK)}) {
		t.Errorf("schema io.k8s.api.apps.v1.Deployment: %s = %v", extensionGVK, got)
	}
	// DeleteOptions is registered into every group version of the scheme; a document lists
	// only its own and core/v1.
	gvks, _ := at(doc, "components", "schemas", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", extensionGVK).([]any)
	if len(gvks) != 2 {
		t.Errorf("DeleteOptions GVKs in apis/apps/v1: %v, want apps/v1 and v1", gvks)
	}
	// Core kinds are in api/v1 only.
	if at(doc, "paths", "/api/v1/namespaces/{namespace}/pods") != nil {
		t.Error("apis/apps/v1 documents pods")
	}

	// A stale hash redirects to the current one; unknown documents are 404.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/openapi/v3/apis/apps/v1?hash=stale", nil)
	stale, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	stale.Body.Close()
	if stale.StatusCode != http.StatusMovedPermanently || stale.Header.Get("Location") != url {
		t.Errorf("stale hash: %s to %q, want 301 to %q", stale.Status, stale.Header.Get("Location"), url)
	}
	for _, p := range []string{"/openapi/v3/apis/batch/v1", "/openapi/v3/", "/openapi/v2/x"} {
		if resp, _ := get(t, srv.URL+p, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	_, srv := newTestServer(t)
	resp, err := http.Post(srv.URL+PathV2, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /openapi/v2: %s, want 405", resp.Status)
	}
}

// notDefined is a kind whose type has no generated OpenAPI definition.
type notDefined struct{ typeMeta metav1.TypeMeta }

func (n *notDefined) GetObjectKind() schema.ObjectKind { return &n.typeMeta }
func (n *notDefined) DeepCopyObject() runtime.Object   { c := *n; return &c }

func TestNewErrors(t *testing.T) {
	pod := testKinds()[0]
	for _, tc := range []struct {
		name  string
		kinds []*registry.Kind
		want  string
	}{
		{"duplicate resource", []*registry.Kind{pod, pod}, "registered twice"},
		{"no resource", []*registry.Kind{{GroupVersionKind: pod.GroupVersionKind, New: pod.New}}, "required"},
		{"no New", []*registry.Kind{{GroupVersionKind: pod.GroupVersionKind, Resource: "pods"}}, "New is nil"},
		{"no definition", []*registry.Kind{{
			GroupVersionKind: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Thing"}, Resource: "things",
			New: func() runtime.Object { return &notDefined{} },
		}}, "no OpenAPI definition for [github.com/gantryhq/gantry/internal/apiserver/openapi.notDefined]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(scheme.Scheme, tc.kinds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestEveryListableSchemeKind builds the documents for every kind of client-go's scheme that
// has a List type, as an upper bound of the build cost, and checks that they build (unique
// operation IDs, definitions for every type).
func TestEveryListableSchemeKind(t *testing.T) {
	var kinds []*registry.Kind
	all := scheme.Scheme.AllKnownTypes()
	for gvk := range all {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		if _, ok := all[gvk.GroupVersion().WithKind(gvk.Kind+"List")]; !ok {
			continue
		}
		gvk := gvk
		kinds = append(kinds, &registry.Kind{
			GroupVersionKind: gvk,
			Resource:         strings.ToLower(gvk.Kind) + "s",
			Namespaced:       true,
			Subresources:     []string{"status"},
			New:              func() runtime.Object { o, _ := scheme.Scheme.New(gvk); return o },
			NewList: func() runtime.Object {
				o, _ := scheme.Scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				return o
			},
		})
	}
	start := time.Now()
	svc, err := New(scheme.Scheme, kinds)
	if err != nil {
		t.Fatal(err)
	}
	newTime := time.Since(start)
	start = time.Now()
	if err := svc.Warm(); err != nil {
		t.Fatal(err)
	}
	warmTime := time.Since(start)
	srv := httptest.NewServer(svc)
	defer srv.Close()
	_, v2 := get(t, srv.URL+PathV2, "application/json")
	var v3 int
	for _, gv := range svc.GroupVersions() {
		_, b := get(t, srv.URL+PathV3+"/"+gv, "application/json")
		v3 += len(b)
	}
	t.Logf("%d kinds in %d group versions: New %v, Warm %v; v2 %d bytes, v3 %d bytes in all",
		len(kinds), len(svc.GroupVersions()), newTime, warmTime, len(v2), v3)
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
