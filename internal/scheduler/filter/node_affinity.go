package filter

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// ErrReasonNodeAffinity is upstream's NodeAffinity reason, for nodeSelector too.
const ErrReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"

var statusNodeAffinity = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeAffinity)

// NodeAffinity applies spec.nodeSelector and required node affinity (matchExpressions and
// matchFields), through k8s.io/component-helpers/scheduling/corev1/nodeaffinity.
type NodeAffinity struct{}

// Name implements framework.Filter.
func (NodeAffinity) Name() string { return NodeAffinityName }

// PreFilter skips pods without node selector or required affinity.
func (NodeAffinity) PreFilter(pod *framework.PodInfo, _ *framework.Snapshot) (any, bool, *framework.Status) {
	return nil, !pod.HasNodeAffinity, nil
}

// Filter implements framework.Filter.
func (NodeAffinity) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	// Parsing errors count as a mismatch, as upstream.
	if ok, _ := pod.NodeAffinity.Match(node.Node); !ok {
		return statusNodeAffinity
	}
	return nil
}
