package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// managed are the taints this controller owns: it adds and removes exactly these.
var managed = []corev1.Taint{
	{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeDiskPressure, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
}

// wantedTaints are the managed taints node's conditions and spec call for.
func wantedTaints(node *corev1.Node) []corev1.Taint {
	var want []corev1.Taint
	both := func(key string) {
		want = append(want, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule}, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute})
	}
	switch cond := condition(node, corev1.NodeReady); {
	case cond == nil:
		// Not reported yet: the scheduler already passes over it; wait for the grace period.
	case cond.Status == corev1.ConditionFalse:
		both(corev1.TaintNodeNotReady)
	case cond.Status == corev1.ConditionUnknown:
		both(corev1.TaintNodeUnreachable)
	}
	for _, p := range []struct {
		cond corev1.NodeConditionType
		key  string
	}{
		{corev1.NodeMemoryPressure, corev1.TaintNodeMemoryPressure},
		{corev1.NodeDiskPressure, corev1.TaintNodeDiskPressure},
		{corev1.NodePIDPressure, corev1.TaintNodePIDPressure},
		{corev1.NodeNetworkUnavailable, corev1.TaintNodeNetworkUnavailable},
	} {
		if cond := condition(node, p.cond); cond != nil && cond.Status == corev1.ConditionTrue {
			want = append(want, corev1.Taint{Key: p.key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return want
}

// reconcileTaints returns have with the managed taints replaced by want, and whether that
// changed anything. Taints kept keep their timeAdded; new NoExecute taints are stamped now,
// the start of their pods' toleration periods.
func reconcileTaints(have, want []corev1.Taint, now metav1.Time) ([]corev1.Taint, bool) {
	var out []corev1.Taint
	changed := false
	for _, t := range have {
		switch {
		case !isManaged(t):
			out = append(out, t)
		case contains(want, t):
			out = append(out, t)
		default:
			changed = true
		}
	}
	for _, t := range want {
		if contains(have, t) {
			continue
		}
		if t.Effect == corev1.TaintEffectNoExecute {
			t.TimeAdded = &now
		}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

func isManaged(t corev1.Taint) bool { return contains(managed, t) }

// contains reports whether taints has one with t's key and effect.
func contains(taints []corev1.Taint, t corev1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&t) {
			return true
		}
	}
	return false
}

// noExecuteTaints are node's taints with the NoExecute effect.
func noExecuteTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}
