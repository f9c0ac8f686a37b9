package framework_test

import (
	"testing"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

func TestFitErrorMessage(t *testing.T) {
	cpu := framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	cpuMem := framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory")
	taint := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint(s)")
	tests := []struct {
		name string
		err  framework.FitError
		want string
	}{
		{
			name: "one reason on every node",
			err:  framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{"a": cpu, "b": cpu, "c": cpu}}},
			want: "0/3 nodes are available: 3 Insufficient cpu.",
		},
		{
			name: "reasons counted across nodes and sorted as strings",
			err: framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{
				"a": cpuMem, "b": taint, "c": cpu}}},
			want: "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), 2 Insufficient cpu.",
		},
		{
			name: "with a preemption message",
			err: framework.FitError{NumAllNodes: 1, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{"a": cpu},
				PostFilterMsg: "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}},
			want: "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "absent nodes take the absent status",
			err: framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{
				"a": framework.NewStatus(framework.UnschedulableAndUnresolvable, "No preemption victims found for incoming pod")},
				AbsentStatus: framework.NewStatus(framework.UnschedulableAndUnresolvable, "Preemption is not helpful for scheduling")}},
			want: "0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
		},
		{
			name: "a prefilter rejection replaces the node reasons",
			err: framework.FitError{NumAllNodes: 2, Diagnosis: framework.Diagnosis{
				NodeToStatus: map[string]*framework.Status{}, AbsentStatus: cpu, PreFilterMsg: "parsing pod: bad selector"}},
			want: "0/2 nodes are available: parsing pod: bad selector.",
		},
		{
			name: "no reasons at all",
			err:  framework.FitError{NumAllNodes: 0, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{}}},
			want: "0/0 nodes are available:",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
