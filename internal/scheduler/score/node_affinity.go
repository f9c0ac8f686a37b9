package score

import "github.com/gantryhq/gantry/internal/scheduler/framework"

// NodeAffinity favours nodes matching the pod's preferred node affinity terms, by the sum
// of their weights (upstream NodeAffinity score).
type NodeAffinity struct{}

// Name implements framework.Scorer.
func (NodeAffinity) Name() string { return NodeAffinityName }

// PreScore skips pods without preferred node affinity.
func (NodeAffinity) PreScore(pod *framework.PodInfo, _ *framework.Snapshot, _ []*framework.NodeInfo) (any, bool) {
	return nil, pod.PreferredNodeAffinity != nil
}

// Score implements framework.Scorer.
func (NodeAffinity) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	return pod.PreferredNodeAffinity.Score(node.Node)
}

// Normalize scales to 0..100.
func (NodeAffinity) Normalize(_ any, scores []int64) {
	framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}
