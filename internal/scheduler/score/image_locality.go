package score

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// ImageLocality favours nodes that already hold the pod's images, by size, discounted for
// images present on few nodes (so that one node holding a rare image does not attract
// everything): upstream's ImageLocality.
type ImageLocality struct{}

// Name implements framework.Scorer.
func (ImageLocality) Name() string { return ImageLocalityName }

type imageState struct {
	total int
	// spread[i] is the share of nodes holding pod.Images[i].
	spread []float64
}

// PreScore implements framework.Scorer.
func (ImageLocality) PreScore(pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) (any, bool) {
	total := snap.NumNodes()
	if total == 0 || len(pod.Images) == 0 {
		return nil, false
	}
	s := &imageState{total: total, spread: make([]float64, len(pod.Images))}
	for i, img := range pod.Images {
		s.spread[i] = float64(snap.ImageNumNodes(img)) / float64(total)
	}
	return s, true
}

// Score implements framework.Scorer.
func (ImageLocality) Score(state any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	s := state.(*imageState)
	var sum int64
	if len(node.Images) > 0 {
		for i, img := range pod.Images {
			if size, ok := node.Images[img]; ok {
				sum += int64(float64(size) * s.spread[i])
			}
		}
	}
	max := int64(maxContainerImageThresh) * int64(len(pod.Images))
	if sum < minImageThreshold {
		sum = minImageThreshold
	} else if sum > max {
		sum = max
	}
	return framework.MaxNodeScore * (sum - minImageThreshold) / (max - minImageThreshold)
}
