package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestDefaultTolerationSeconds(t *testing.T) {
	for _, tt := range []struct {
		name string
		have []corev1.Toleration
		want int
	}{
		{"none: both added", nil, 2},
		{"own unreachable toleration kept, not-ready added", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, TolerationSeconds: ptr.To[int64](5)}}, 2},
		{"tolerates everything: nothing added", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, 1},
		{"NoSchedule only: both added", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, 3},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.have}}
		if err := (DefaultTolerationSeconds{}).Admit(context.Background(), &Attributes{Operation: Create, Object: pod}); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.Tolerations) != tt.want {
			t.Errorf("%s: tolerations %+v, want %d", tt.name, pod.Spec.Tolerations, tt.want)
		}
		for _, tol := range pod.Spec.Tolerations[len(tt.have):] {
			if tol.Effect != corev1.TaintEffectNoExecute || tol.Operator != corev1.TolerationOpExists || *tol.TolerationSeconds != 300 {
				t.Errorf("%s: added %+v, want Exists/NoExecute for 300 s", tt.name, tol)
			}
		}
	}
}
