package score

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// LeastAllocated favours nodes with the most free CPU and memory after placing the pod
// (upstream NodeResourcesFit with the LeastAllocated strategy, cpu and memory weighted 1).
// Requests count with their non-zero defaults, so best-effort pods spread too.
type LeastAllocated struct{}

// Name implements framework.Scorer.
func (LeastAllocated) Name() string { return LeastAllocatedName }

// PreScore implements framework.Scorer.
func (LeastAllocated) PreScore(*framework.PodInfo, *framework.Snapshot, []*framework.NodeInfo) (any, bool) {
	return nil, true
}

// Score implements framework.Scorer.
func (LeastAllocated) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	var sum, n int64
	if a := node.Allocatable.MilliCPU; a > 0 {
		sum += leastRequested(node.NonZeroMilliCPU+pod.NonZeroMilliCPU, a)
		n++
	}
	if a := node.Allocatable.Memory; a > 0 {
		sum += leastRequested(node.NonZeroMemory+pod.NonZeroMemory, a)
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func leastRequested(requested, capacity int64) int64 {
	if requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}
