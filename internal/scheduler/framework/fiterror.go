package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ErrNoNodesAvailable is upstream's error when the cluster has no node at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// NoNodeAvailableMsg starts every FitError message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// Diagnosis records why a pod fits no node.
type Diagnosis struct {
	// NodeToStatus holds the status of each node that was rejected explicitly.
	NodeToStatus map[string]*Status
	// AbsentStatus, if set, counts for every node missing from NodeToStatus.
	AbsentStatus *Status
	// UnschedulablePlugins are the filters that rejected the pod somewhere.
	UnschedulablePlugins sets.Set[string]
	// PreFilterMsg is set when a PreFilter rejected the pod for every node.
	PreFilterMsg string
	// PostFilterMsg is what preemption had to say ("preemption: …").
	PostFilterMsg string
}

// FitError is the error of a pod that fits no node. Its message is Kubernetes' own:
//
//	0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. preemption: …
//
// the reasons of all nodes counted, sorted as strings, as in
// k8s.io/kubernetes/pkg/scheduler/framework.FitError.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error formats the message.
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += fmt.Sprintf(" %v.", f.Diagnosis.PreFilterMsg)
	} else {
		reasons := map[string]int{}
		for _, st := range f.Diagnosis.NodeToStatus {
			for _, r := range st.Reasons() {
				reasons[r]++
			}
		}
		if n := len(f.Diagnosis.NodeToStatus); n < f.NumAllNodes && f.Diagnosis.AbsentStatus != nil {
			for _, r := range f.Diagnosis.AbsentStatus.Reasons() {
				reasons[r] += f.NumAllNodes - n
			}
		}
		list := make([]string, 0, len(reasons))
		for r, n := range reasons {
			list = append(list, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(list)
		if len(list) > 0 {
			msg += fmt.Sprintf(" %v.", strings.Join(list, ", "))
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg
	}
	return msg
}
