package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// DefaultTolerationSecondsValue is how long, by default, a pod stays on a node that is not
// ready or unreachable before it is evicted (kube-apiserver's
// --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds).
const DefaultTolerationSecondsValue int64 = 300

// DefaultTolerationSeconds gives every new pod a bounded toleration of the not-ready and
// unreachable NoExecute taints, unless it has its own, as kube-apiserver's plugin of that
// name does: without it a pod on a lost node would be evicted at once, or never.
type DefaultTolerationSeconds struct{}

// Admit adds the two tolerations to pods being created or updated.
func (DefaultTolerationSeconds) Admit(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if a.Operation != Create && a.Operation != Update || a.Subresource != "" || !ok {
		return nil
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
			TolerationSeconds: ptr.To(DefaultTolerationSecondsValue),
		})
	}
	return nil
}

// toleratesNoExecute reports whether tolerations already say something about key's
// NoExecute taint: a toleration of that key, or of every key, for NoExecute or every effect.
func toleratesNoExecute(tolerations []corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
			return true
		}
	}
	return false
}
