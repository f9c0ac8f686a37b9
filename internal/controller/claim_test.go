package controller

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClaim(t *testing.T) {
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: "ns", UID: "owner-uid"}}
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	pod := func(name string, match, owned bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{}}}
		if match {
			p.Labels["app"] = "web"
		}
		if owned {
			p.OwnerReferences = WithControllerRef(nil, owner, gvk, true)
		}
		return p
	}
	all := []*corev1.Pod{pod("kept", true, true), pod("released", false, true), pod("adopted", true, false), pod("stranger", false, false)}
	match := func(p *corev1.Pod) bool { return p.Labels["app"] == "web" }
	run := func(o metav1.Object, live func(context.Context) (metav1.Object, error)) (owned, writes []string) {
		got, err := Claim(context.Background(), o, all, match, live, func(_ context.Context, p *corev1.Pod, adopt bool) error {
			writes = append(writes, p.Name+map[bool]string{true: " adopt", false: " release"}[adopt])
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range got {
			owned = append(owned, p.Name)
		}
		return owned, writes
	}
	alive := func(context.Context) (metav1.Object, error) { return owner, nil }
	if owned, writes := run(owner, alive); !slices.Equal(owned, []string{"kept", "adopted"}) || !slices.Equal(writes, []string{"released release", "adopted adopt"}) {
		t.Errorf("live owner: owned %v writes %v", owned, writes)
	}
	gone := func(context.Context) (metav1.Object, error) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "owner")
	}
	if owned, writes := run(owner, gone); !slices.Equal(owned, []string{"kept"}) || !slices.Equal(writes, []string{"released release"}) {
		t.Errorf("owner gone from the API: owned %v writes %v, want no adoption", owned, writes)
	}
	deleting := owner.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	if owned, writes := run(deleting, alive); !slices.Equal(owned, []string{"kept"}) || len(writes) != 0 {
		t.Errorf("owner being deleted: owned %v writes %v, want neither adoption nor release", owned, writes)
	}
}
