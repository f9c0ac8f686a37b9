package filter

import (
	v1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// ErrReasonTaints is upstream's (1.37) TaintToleration reason.
const ErrReasonTaints = "node(s) had untolerated taint(s)"

var statusTaints = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonTaints)

// TaintToleration keeps pods off nodes with NoSchedule or NoExecute taints they do not
// tolerate. The node's taints include those implied by its conditions (not Ready,
// unreachable, pressure), see framework.NodeInfo.Taints. PreferNoSchedule taints only lower
// the score (score.TaintToleration).
type TaintToleration struct{}

// Name implements framework.Filter.
func (TaintToleration) Name() string { return TaintTolerationName }

// PreFilter implements framework.Filter.
func (TaintToleration) PreFilter(*framework.PodInfo, *framework.Snapshot) (any, bool, *framework.Status) {
	return nil, false, nil
}

// Filter implements framework.Filter.
func (TaintToleration) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if len(node.Taints) == 0 {
		return nil
	}
	if _, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, node.Taints, pod.Pod.Spec.Tolerations, doNotSchedule, false); untolerated {
		return statusTaints
	}
	return nil
}

func doNotSchedule(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}
