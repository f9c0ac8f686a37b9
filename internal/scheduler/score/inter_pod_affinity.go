package score

import (
	"math"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// InterPodAffinity favours nodes in domains holding pods the pod prefers to be near (and
// away from those it prefers to avoid), and domains whose pods prefer — or require — the
// pod near them (upstream InterPodAffinity score, hardPodAffinityWeight 1).
type InterPodAffinity struct{}

// Name implements framework.Scorer.
func (InterPodAffinity) Name() string { return InterPodAffinityName }

// topologyScore maps topology key → value → score.
type topologyScore map[string]map[string]int64

func (m topologyScore) add(node *framework.NodeInfo, key string, w int64) {
	if node == nil || node.Node == nil {
		return
	}
	v, ok := node.Node.Labels[key]
	if !ok {
		return
	}
	if m[key] == nil {
		m[key] = map[string]int64{}
	}
	m[key][v] += w
}

// PreScore sums, per domain, the weights of the matching terms. The pod's own preferred
// terms visit the pods they can select, and only the placed pods' terms that can select the
// pod are visited (both through the snapshot's label indexes).
func (InterPodAffinity) PreScore(pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) (any, bool) {
	hasOwn := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	if !hasOwn && !snap.HasPodsWithAffinity() {
		return nil, false
	}
	m := topologyScore{}
	found := false
	for i := range pod.PreferredAffinity {
		t := &pod.PreferredAffinity[i]
		snap.MatchingPods(t.Namespaces, t.NamespaceSelector, t.Selector, func(p *framework.PodInfo) {
			m.add(snap.NodeOf(p), t.TopologyKey, int64(t.Weight))
			found = true
		})
	}
	for i := range pod.PreferredAntiAffinity {
		t := &pod.PreferredAntiAffinity[i]
		snap.MatchingPods(t.Namespaces, t.NamespaceSelector, t.Selector, func(p *framework.PodInfo) {
			m.add(snap.NodeOf(p), t.TopologyKey, -int64(t.Weight))
			found = true
		})
	}
	nsLabels := snap.NamespaceLabels(pod.Pod.Namespace)
	existing := func(sign int64) func(*framework.PodInfo, *framework.AffinityTerm, int32) {
		return func(p *framework.PodInfo, t *framework.AffinityTerm, weight int32) {
			w := int64(weight)
			if w == 0 {
				w = hardPodAffinityWeight // a required term
			}
			m.add(snap.NodeOf(p), t.TopologyKey, sign*w)
			found = true
		}
	}
	snap.TermsMatching(framework.RequiredAffinity, pod.Pod, nsLabels, existing(1))
	snap.TermsMatching(framework.PreferredAffinity, pod.Pod, nsLabels, existing(1))
	snap.TermsMatching(framework.PreferredAntiAffinity, pod.Pod, nsLabels, existing(-1))
	if !found {
		return nil, false
	}
	return m, true
}

// Score implements framework.Scorer.
func (InterPodAffinity) Score(state any, _ *framework.PodInfo, node *framework.NodeInfo) int64 {
	var score int64
	for key, values := range state.(topologyScore) {
		if v, ok := node.Node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score
}

// Normalize maps the range of scores onto 0..100.
func (InterPodAffinity) Normalize(state any, scores []int64) {
	if len(state.(topologyScore)) == 0 {
		return
	}
	var min int64 = math.MaxInt64
	var max int64 = math.MinInt64
	for _, s := range scores {
		if s > max {
			max = s
		}
		if s < min {
			min = s
		}
	}
	diff := max - min
	for i, s := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * (float64(s-min) / float64(diff))
		}
		scores[i] = int64(f)
	}
}
