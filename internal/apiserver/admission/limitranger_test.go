package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func limitRanger(items ...corev1.LimitRangeItem) *LimitRanger {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "limits"}, Spec: corev1.LimitRangeSpec{Limits: items}}
	return &LimitRanger{Objects: newFakeObjects(map[schema.GroupVersionResource][]runtime.Object{limitRangesResource: {lr}})}
}

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestLimitRangerDefaults(t *testing.T) {
	ctx := context.Background()
	l := limitRanger(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: list("cpu", "500m", "memory", "128Mi"), DefaultRequest: list("cpu", "100m", "memory", "64Mi")})
	pod := newPod("ns", "a", func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = list("cpu", "1")
	})
	if err := admit(ctx, l, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	res := pod.Spec.Containers[0].Resources
	if !equalList(res.Limits, list("cpu", "1", "memory", "128Mi")) || !equalList(res.Requests, list("cpu", "100m", "memory", "64Mi")) {
		t.Errorf("resources %v", res)
	}
	if got := pod.Annotations["kubernetes.io/limit-ranger"]; got != "LimitRanger plugin set: cpu, memory request for container c; memory limit for container c" {
		t.Errorf("annotation %q", got)
	}
	// Other namespaces are not affected.
	other := newPod("elsewhere", "b")
	if err := admit(ctx, l, podCreate(other)); err != nil {
		t.Fatal(err)
	}
	if len(other.Spec.Containers[0].Resources.Limits) != 0 {
		t.Errorf("a pod in another namespace got %v", other.Spec.Containers[0].Resources)
	}
}

func TestLimitRangerBounds(t *testing.T) {
	ctx := context.Background()
	l := limitRanger(
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("memory", "10Mi"), Max: list("cpu", "1"), MaxLimitRequestRatio: list("cpu", "2")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("memory", "1Gi")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: list("storage", "1Gi"), Max: list("storage", "10Gi")},
	)
	sized := func(requests, limits corev1.ResourceList) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: requests, Limits: limits}
		}
	}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{newPod("ns", "fine", sized(list("cpu", "500m", "memory", "20Mi"), list("cpu", "1", "memory", "20Mi"))), ""},
		{newPod("ns", "big", sized(list("cpu", "500m", "memory", "20Mi"), list("cpu", "2", "memory", "20Mi"))),
			`pods "big" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000]`},
		{newPod("ns", "tiny", sized(list("cpu", "500m", "memory", "1Mi"), list("cpu", "500m", "memory", "1Mi"))),
			`pods "tiny" is forbidden: minimum memory usage per Container is 10Mi, but request is 1Mi`},
		{newPod("ns", "fat", sized(list("cpu", "500m", "memory", "2Gi"), list("cpu", "500m", "memory", "2Gi"))),
			`pods "fat" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 2Gi`},
	} {
		err := validate(ctx, l, podCreate(tc.pod))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.pod.Name, err)
			}
			continue
		}
		wantForbidden(t, err, tc.want)
	}

	claim := func(name, size string) *Attributes {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: list("storage", size)}}}
		return &Attributes{Operation: Create, Resource: pvcsResource, Namespace: "ns", Name: name, Object: pvc}
	}
	if err := validate(ctx, l, claim("ok", "5Gi")); err != nil {
		t.Errorf("claim within bounds: %v", err)
	}
	wantForbidden(t, validate(ctx, l, claim("huge", "20Gi")), `persistentvolumeclaims "huge" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`)
}

func equalList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
