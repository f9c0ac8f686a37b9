package filter

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// ErrReasonNodePorts is upstream's NodePorts reason.
const ErrReasonNodePorts = "node(s) didn't have free ports for the requested pod ports"

var statusNodePorts = framework.NewStatus(framework.Unschedulable, ErrReasonNodePorts)

// NodePorts keeps a pod off nodes where one of its host ports (ip, protocol, port) is taken;
// 0.0.0.0 conflicts with every address.
type NodePorts struct{}

// Name implements framework.Filter.
func (NodePorts) Name() string { return NodePortsName }

// PreFilter skips pods without host ports.
func (NodePorts) PreFilter(pod *framework.PodInfo, _ *framework.Snapshot) (any, bool, *framework.Status) {
	return nil, len(pod.Ports) == 0, nil
}

// Filter implements framework.Filter.
func (NodePorts) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	for _, p := range pod.Ports {
		if node.PortConflict(p) {
			return statusNodePorts
		}
	}
	return nil
}
