// Package filter holds the predicates that decide whether a node can hold a pod, one file
// each, with Kubernetes' plugin names and failure reasons (so that FailedScheduling events
// read as they do upstream). Default lists them in upstream's order: a node is reported with
// the reasons of the first filter that rejects it.
package filter

import (
	"k8s.io/klog/v2"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Plugin names, as upstream names them.
const (
	NodeNameName          = "NodeName"
	NodeUnschedulableName = "NodeUnschedulable"
	TaintTolerationName   = "TaintToleration"
	NodeAffinityName      = "NodeAffinity"
	NodePortsName         = "NodePorts"
	NodeResourcesFitName  = "NodeResourcesFit"
	PodTopologySpreadName = "PodTopologySpread"
	InterPodAffinityName  = "InterPodAffinity"
)

// Default returns the filters in the order upstream's default profile runs them.
func Default() []framework.Filter {
	return []framework.Filter{
		NodeName{},
		NodeUnschedulable{},
		TaintToleration{},
		NodeAffinity{},
		NodePorts{},
		NodeResourcesFit{},
		PodTopologySpread{},
		InterPodAffinity{},
	}
}

// logger is what the component-helpers toleration code logs to (only for malformed
// numeric tolerations, which the disabled TaintTolerationComparisonOperators gate refuses).
var logger = klog.Background()

var (
	_ framework.Filter = NodeName{}
	_ framework.Filter = NodeUnschedulable{}
	_ framework.Filter = TaintToleration{}
	_ framework.Filter = NodeAffinity{}
	_ framework.Filter = NodePorts{}
	_ framework.Filter = NodeResourcesFit{}
	_ framework.Filter = PodTopologySpread{}
	_ framework.Filter = InterPodAffinity{}
)
