package filter

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// ErrReasonNodeName is upstream's NodeName reason.
const ErrReasonNodeName = "node(s) didn't match the requested node name"

var statusNodeName = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeName)

// NodeName keeps a pod that names its node (spec.nodeName) off every other node.
type NodeName struct{}

// Name implements framework.Filter.
func (NodeName) Name() string { return NodeNameName }

// PreFilter skips pods that name no node.
func (NodeName) PreFilter(pod *framework.PodInfo, _ *framework.Snapshot) (any, bool, *framework.Status) {
	return nil, pod.Pod.Spec.NodeName == "", nil
}

// Filter implements framework.Filter.
func (NodeName) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if pod.Pod.Spec.NodeName != node.Name {
		return statusNodeName
	}
	return nil
}
