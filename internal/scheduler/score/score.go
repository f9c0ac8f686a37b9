// Package score holds the scorers that rank the nodes a pod may go to, one file each, with
// upstream's formulas and default weights: the node with the highest weighted sum wins.
package score

import (
	"k8s.io/klog/v2"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Plugin names, as upstream names them.
const (
	LeastAllocatedName      = "NodeResourcesFit"
	BalancedAllocationName  = "NodeResourcesBalancedAllocation"
	ImageLocalityName       = "ImageLocality"
	TaintTolerationName     = "TaintToleration"
	NodeAffinityName        = "NodeAffinity"
	PodTopologySpreadName   = "PodTopologySpread"
	InterPodAffinityName    = "InterPodAffinity"
	hardPodAffinityWeight   = 1
	defaultHostnameMaxSkew  = 3
	defaultZoneMaxSkew      = 5
	minImageThreshold       = 23 * mb
	maxContainerImageThresh = 1000 * mb
	mb                      = 1024 * 1024
)

// Default returns the scorers with upstream's default weights.
func Default() []framework.WeightedScorer {
	return []framework.WeightedScorer{
		{Scorer: TaintToleration{}, Weight: 3},
		{Scorer: NodeAffinity{}, Weight: 2},
		{Scorer: LeastAllocated{}, Weight: 1},
		{Scorer: PodTopologySpread{}, Weight: 2},
		{Scorer: InterPodAffinity{}, Weight: 2},
		{Scorer: BalancedAllocation{}, Weight: 1},
		{Scorer: ImageLocality{}, Weight: 1},
	}
}

var logger = klog.Background()

var (
	_ framework.Scorer     = LeastAllocated{}
	_ framework.Scorer     = BalancedAllocation{}
	_ framework.Scorer     = ImageLocality{}
	_ framework.Scorer     = TaintToleration{}
	_ framework.Normalizer = TaintToleration{}
	_ framework.Scorer     = NodeAffinity{}
	_ framework.Normalizer = NodeAffinity{}
	_ framework.Scorer     = PodTopologySpread{}
	_ framework.Normalizer = PodTopologySpread{}
	_ framework.Scorer     = InterPodAffinity{}
	_ framework.Normalizer = InterPodAffinity{}
)
