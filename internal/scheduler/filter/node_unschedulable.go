package filter

import (
	v1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// ErrReasonUnschedulable is upstream's NodeUnschedulable reason.
const ErrReasonUnschedulable = "node(s) were unschedulable"

var statusUnschedulable = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)

var unschedulableTaint = v1.Taint{Key: framework.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable), unless they tolerate
// the node.kubernetes.io/unschedulable taint.
type NodeUnschedulable struct{}

// Name implements framework.Filter.
func (NodeUnschedulable) Name() string { return NodeUnschedulableName }

// PreFilter computes whether the pod tolerates cordoned nodes.
func (NodeUnschedulable) PreFilter(pod *framework.PodInfo, _ *framework.Snapshot) (any, bool, *framework.Status) {
	tolerates := v1helper.TolerationsTolerateTaint(logger, pod.Pod.Spec.Tolerations, &unschedulableTaint, false)
	return nil, tolerates, nil
}

// Filter implements framework.Filter.
func (NodeUnschedulable) Filter(_ any, _ *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if node.Node.Spec.Unschedulable {
		return statusUnschedulable
	}
	return nil
}
