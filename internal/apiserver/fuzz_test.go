package apiserver

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/registry"
)

// FuzzDecode feeds arbitrary bodies to the request decoder: it must never panic, and every
// failure must be an API status error (so that the client gets a metav1.Status, not a 500).
func FuzzDecode(f *testing.F) {
	seeds := []struct {
		body  string
		media string
	}{
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}}`, "application/json"},
		{"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", "application/yaml"},
		{`{"apiVersion":"v1","kind":"Secret"}`, "application/json"},
		{`{"metadata":{"name":"p"},"metadata":{"name":"q"}}`, "application/json"},
		{"k8s\x00\n\x0b\n\x02v1\x12\x03Pod\x12\x00", "application/vnd.kubernetes.protobuf"},
		{"k8s\x00\xff\xff", "application/vnd.kubernetes.protobuf"},
		{"- [", "application/yaml"},
		{`{"spec":{"containers":[{"resources":{"limits":{"cpu":"1e999999"}}}]}}`, "application/json"},
	}
	for _, s := range seeds {
		for _, fv := range []string{"Strict", "Warn", "Ignore"} {
			f.Add([]byte(s.body), s.media, fv)
		}
	}
	c := newCodecs(registry.Scheme(), registry.Codecs)
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	f.Fuzz(func(t *testing.T, body []byte, media, fv string) {
		_, err := c.decode(body, media, gvk, &corev1.Pod{}, fieldValidation(fv))
		var status apierrors.APIStatus
		if err != nil && !errors.As(err, &status) {
			t.Fatalf("decode error is not an API status: %v", err)
		}
	})
}

// FuzzPatch applies arbitrary patches of every type to a pod: no panic, and every failure is
// an API status error.
func FuzzPatch(f *testing.F) {
	doc := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}`
	seeds := []struct {
		pt    string
		patch string
	}{
		{string(types.JSONPatchType), `[{"op":"replace","path":"/metadata/name","value":"q"}]`},
		{string(types.JSONPatchType), `[{"op":"move","from":"/spec","path":"/spec/containers"}]`},
		{string(types.JSONPatchType), `[{"op":"add","path":"/spec/containers/-","value":{"name":"d"}}]`},
		{string(types.MergePatchType), `{"metadata":{"labels":null}}`},
		{string(types.StrategicMergePatchType), `{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}`},
		{string(types.StrategicMergePatchType), `{"spec":{"$setElementOrder/containers":[{"name":"z"}]}}`},
		{string(types.StrategicMergePatchType), `{"metadata":{"$retainKeys":["x"]}}`},
		{string(types.ApplyYAMLPatchType), `{}`},
	}
	for _, s := range seeds {
		f.Add(s.pt, []byte(s.patch))
	}
	f.Fuzz(func(t *testing.T, pt string, patch []byte) {
		_, err := applyPatch(types.PatchType(pt), []byte(doc), patch, &corev1.Pod{})
		var status apierrors.APIStatus
		if err != nil && !errors.As(err, &status) {
			t.Fatalf("patch error is not an API status: %v", err)
		}
	})
}
