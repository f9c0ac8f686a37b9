package admission

import (
	"context"
	"errors"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podCreate(pod *corev1.Pod) *Attributes {
	return &Attributes{Operation: Create, Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Resource: podsResource,
		Namespace: pod.Namespace, Name: pod.Name, Object: pod}
}

func newPod(ns, name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// admit runs the plugin's mutating then validating half, as the chain does.
func admit(ctx context.Context, plugin any, a *Attributes) error {
	return Chain{plugin}.Admit(ctx, a)
}

func validate(ctx context.Context, plugin any, a *Attributes) error {
	return Chain{plugin}.Validate(ctx, a)
}

func wantForbidden(t *testing.T, err error, want string) {
	t.Helper()
	var status *apierrors.StatusError
	if !errors.As(err, &status) || status.ErrStatus.Code != http.StatusForbidden || status.ErrStatus.Message != want {
		t.Fatalf("got %v, want 403 %q", err, want)
	}
}
