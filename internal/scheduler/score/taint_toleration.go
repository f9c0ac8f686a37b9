package score

import (
	v1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// TaintToleration favours nodes with fewer PreferNoSchedule taints the pod does not
// tolerate (upstream TaintToleration score, normalized in reverse).
type TaintToleration struct{}

// Name implements framework.Scorer.
func (TaintToleration) Name() string { return TaintTolerationName }

// PreScore keeps the tolerations that can tolerate PreferNoSchedule taints.
func (TaintToleration) PreScore(pod *framework.PodInfo, _ *framework.Snapshot, _ []*framework.NodeInfo) (any, bool) {
	var tols []v1.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	return tols, true
}

// Score counts the intolerable PreferNoSchedule taints.
func (TaintToleration) Score(state any, _ *framework.PodInfo, node *framework.NodeInfo) int64 {
	tols, _ := state.([]v1.Toleration)
	var n int64
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !v1helper.TolerationsTolerateTaint(logger, tols, t, false) {
			n++
		}
	}
	return n
}

// Normalize gives the nodes with the fewest such taints the highest score.
func (TaintToleration) Normalize(_ any, scores []int64) {
	framework.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
}
