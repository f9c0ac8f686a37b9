package admission

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestDefaultStorageClass(t *testing.T) {
	storageClass := func(name string, isDefault bool, created time.Time) runtime.Object {
		c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
		if isDefault {
			c.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		return c
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	create := func(claim *corev1.PersistentVolumeClaim) *Attributes {
		return &Attributes{Operation: Create, Object: claim, Namespace: "ns", Name: claim.Name}
	}
	cases := []struct {
		name    string
		classes []runtime.Object
		set     *string
		want    *string
	}{
		{"no default class", []runtime.Object{storageClass("slow", false, t0)}, nil, nil},
		{"the default class", []runtime.Object{storageClass("slow", false, t0), storageClass("local-path", true, t0)}, nil, ptr.To("local-path")},
		{"the newest of two defaults", []runtime.Object{storageClass("old", true, t0), storageClass("new", true, t0.Add(time.Hour))}, nil, ptr.To("new")},
		{"a class named stays", []runtime.Object{storageClass("local-path", true, t0)}, ptr.To("slow"), ptr.To("slow")},
		{"an empty class (no class) stays", []runtime.Object{storageClass("local-path", true, t0)}, ptr.To(""), ptr.To("")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &DefaultStorageClass{Objects: newFakeObjects(map[schema.GroupVersionResource][]runtime.Object{
				storagev1.SchemeGroupVersion.WithResource("storageclasses"): tc.classes})}
			claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tc.set}}
			if err := p.Admit(context.Background(), create(claim)); err != nil {
				t.Fatal(err)
			}
			if got := claim.Spec.StorageClassName; (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("storageClassName %v, want %v", ptr.Deref(got, "<nil>"), ptr.Deref(tc.want, "<nil>"))
			}
		})
	}
}
