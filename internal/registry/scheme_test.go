package registry

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestSchemeTypes(t *testing.T) {
	// Besides every kind's object and list: the types of subresources and of the API itself.
	for _, gvk := range []schema.GroupVersionKind{
		autoscalingv1.SchemeGroupVersion.WithKind("Scale"),
		policyv1.SchemeGroupVersion.WithKind("Eviction"),
		corev1.SchemeGroupVersion.WithKind("Binding"),
		metav1.SchemeGroupVersion.WithKind("Table"),
		metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"),
		{Version: "v1", Kind: "Status"},
		appsv1.SchemeGroupVersion.WithKind("DeleteOptions"),
		appsv1.SchemeGroupVersion.WithKind("WatchEvent"),
	} {
		if !Scheme().Recognizes(gvk) {
			t.Errorf("Scheme does not know %s", gvk)
		}
	}
	// Versioned types only: Kubernetes' internal ones stay in this package.
	if Scheme().IsVersionRegistered(schema.GroupVersion{Version: runtime.APIVersionInternal}) {
		t.Errorf("Scheme registers internal types")
	}
}

func TestCodecs(t *testing.T) {
	tests := []struct {
		name string
		body string
		want schema.GroupVersionKind
	}{
		{"json pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":"nginx"}]}}`,
			corev1.SchemeGroupVersion.WithKind("Pod")},
		{"yaml deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
			appsv1.SchemeGroupVersion.WithKind("Deployment")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, gvk, err := Codecs.UniversalDeserializer().Decode([]byte(tt.body), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *gvk != tt.want {
				t.Errorf("decoded %s, want %s", gvk, tt.want)
			}
			if d, ok := obj.(*appsv1.Deployment); ok && *d.Spec.Replicas != 2 {
				t.Errorf("replicas = %d", *d.Spec.Replicas)
			}
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.DNSPolicy != "" {
				t.Errorf("decoding defaulted the pod: dnsPolicy %q", p.Spec.DNSPolicy)
			}
		})
	}

	info, ok := runtime.SerializerInfoForMediaType(Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		t.Fatal("no JSON serializer")
	}
	var b strings.Builder
	table := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}}}
	if err := Codecs.EncoderForVersion(info.Serializer, metav1.SchemeGroupVersion).Encode(table, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"kind":"Table","apiVersion":"meta.k8s.io/v1"`) {
		t.Errorf("encoded table = %s", b.String())
	}
}
