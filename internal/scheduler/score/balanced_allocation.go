package score

import (
	"math"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// BalancedAllocation favours nodes whose CPU and memory would be used in similar
// proportions once the pod is placed, rewarding placements that improve the balance
// (upstream NodeResourcesBalancedAllocation). Pods requesting nothing skip it.
type BalancedAllocation struct{}

// Name implements framework.Scorer.
func (BalancedAllocation) Name() string { return BalancedAllocationName }

// PreScore skips best-effort pods.
func (BalancedAllocation) PreScore(pod *framework.PodInfo, _ *framework.Snapshot, _ []*framework.NodeInfo) (any, bool) {
	return nil, pod.Requests.MilliCPU != 0 || pod.Requests.Memory != 0
}

// Score implements framework.Scorer.
func (BalancedAllocation) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	alloc := [2]int64{node.Allocatable.MilliCPU, node.Allocatable.Memory}
	used := [2]int64{node.Requested.MilliCPU, node.Requested.Memory}
	with := [2]int64{used[0] + pod.Requests.MilliCPU, used[1] + pod.Requests.Memory}
	for i := range alloc {
		if alloc[i] == 0 {
			used[i], with[i] = 0, 0
		}
	}
	withPod := balance(with, alloc)
	without := balance(used, alloc)
	return framework.MaxNodeScore/2 + (framework.MaxNodeScore/2+withPod-without)/2
}

// balance is 100 × (1 − the standard deviation of the used fractions).
func balance(requested, allocatable [2]int64) int64 {
	var fractions [2]float64
	n := 0
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := float64(requested[i]) / float64(allocatable[i])
		if f > 1 {
			f = 1
		}
		fractions[n] = f
		n++
	}
	std := 0.0
	if n == 2 {
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}
