package openapi

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// These tests run the code kubectl 1.37 runs against a server, over HTTP.

func newClients(t *testing.T) (*discovery.DiscoveryClient, dynamic.Interface) {
	t.Helper()
	_, srv := newTestServer(t)
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc, dyn
}

// TestFieldValidationSupport: with the default --validate=strict, kubectl asks the verifier
// whether the server validates fields; when it does, kubectl sends fieldValidation=Strict
// instead of validating client-side.
func TestFieldValidationSupport(t *testing.T) {
	dc, dyn := newClients(t)
	v3 := resource.NewQueryParamVerifierV3(dyn, dc.OpenAPIV3(), resource.QueryParamFieldValidation)
	// The v2 verifier is kubectl's fallback; it reads the protobuf form of /openapi/v2.
	v2 := resource.NewQueryParamVerifier(dyn, dc, resource.QueryParamFieldValidation)
	core := corev1.SchemeGroupVersion
	for _, gvk := range []schema.GroupVersionKind{
		deploymentGVK, core.WithKind("Pod"), core.WithKind("Namespace"), core.WithKind("Node"), core.WithKind("ConfigMap"),
	} {
		t.Run(gvk.Kind, func(t *testing.T) {
			if err := v3.HasSupport(gvk); err != nil {
				t.Errorf("v3 HasSupport(%v): %v", gvk, err)
			}
			if err := v2.HasSupport(gvk); err != nil {
				t.Errorf("v2 HasSupport(%v): %v", gvk, err)
			}
		})
	}
	// A kind the server does not serve is reported unsupported, not as a failure.
	job := schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	if err := v3.HasSupport(job); !resource.IsParamUnsupportedError(err) {
		t.Errorf("v3 HasSupport(%v) = %v, want unsupported", job, err)
	}
}

// TestExplain runs `kubectl explain deployment.spec.replicas` (the default v3 renderer).
func TestExplain(t *testing.T) {
	dc, _ := newClients(t)
	var out bytes.Buffer
	gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
	if err := explainv2.PrintModelDescription([]string{"spec", "replicas"}, &out, dc.OpenAPIV3(), gvr, false, 0, "plaintext"); err != nil {
		t.Fatalf("explain: %v", err)
	}
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "FIELD: replicas <integer>", "Number of desired pods"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}

	// A cluster-scoped kind, recursively.
	out.Reset()
	if err := explainv2.PrintModelDescription(nil, &out, dc.OpenAPIV3(), corev1.SchemeGroupVersion.WithResource("nodes"), true, 1, "plaintext"); err != nil {
		t.Fatalf("explain nodes: %v", err)
	}
	if !strings.Contains(out.String(), "KIND:       Node") || !strings.Contains(out.String(), "spec\t<NodeSpec>") {
		t.Errorf("explain nodes --recursive:\n%s", out.String())
	}
}

// TestV2Models: kubectl's v2 models (explain --output plaintext-openapiv2, client-side
// validation when the server lacks fieldValidation, apply's v2 patch-type lookup).
func TestV2Models(t *testing.T) {
	dc, _ := newClients(t)
	resources, err := kubectlopenapi.NewOpenAPIParser(dc).Parse()
	if err != nil {
		t.Fatalf("parsing v2: %v", err)
	}
	if resources.LookupResource(deploymentGVK) == nil {
		t.Fatalf("v2 models lack %v", deploymentGVK)
	}
	if got := resources.GetConsumes(deploymentGVK, "PATCH"); !slices.Contains(got, "application/strategic-merge-patch+json") {
		t.Errorf("v2 PATCH consumes %v", got)
	}

	v := validation.NewSchemaValidation(staticResources{resources})
	good := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"selector":{},"template":{}}}`)
	if err := v.ValidateBytes(good); err != nil {
		t.Errorf("validating a valid Deployment: %v", err)
	}
	bad := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"one","bogus":1}}`)
	if err := v.ValidateBytes(bad); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("validating an invalid Deployment: %v, want an error naming the unknown field", err)
	}
}

// TestApplyPatchFromV3 follows client-side `kubectl apply` (cmd/apply/patcher.go): the PATCH
// operation must accept strategic merge patches, and the three-way patch is computed from the
// v3 schema, whose merge keys make containers merge by name.
func TestApplyPatchFromV3(t *testing.T) {
	dc, _ := newClients(t)
	doc, err := openapi3.NewRoot(dc.OpenAPIV3()).GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}

	var smp bool
	for _, p := range doc.Paths.Paths {
		if p.Patch == nil || !equalJSON(p.Patch.Extensions[extensionGVK], gvkMap(deploymentGVK)) {
			continue
		}
		_, smp = p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]
		break
	}
	if !smp {
		t.Fatal("no Deployment PATCH accepting application/strategic-merge-patch+json")
	}

	var meta strategicpatch.LookupPatchMeta
	for _, s := range doc.Components.Schemas {
		gvks, _ := s.Extensions[extensionGVK].([]any)
		if slices.ContainsFunc(gvks, func(g any) bool { return equalJSON(g, gvkMap(deploymentGVK)) }) {
			meta = strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: doc.Components.Schemas}
		}
	}
	if meta == nil {
		t.Fatal("no schema with the Deployment GVK")
	}
	original := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"}]}}}}`)
	modified := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`)
	current := []byte(`{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"a","image":"a:1"}]}}}}`)
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
	if err != nil {
		t.Fatalf("three-way patch: %v", err)
	}
	if want := `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"image":"b:1","name":"b"}]}}}}`; string(patch) != want {
		t.Errorf("patch %s\nwant  %s", patch, want)
	}
}

type staticResources struct{ kubectlopenapi.Resources }

func (s staticResources) OpenAPISchema() (kubectlopenapi.Resources, error) { return s.Resources, nil }
