package score

import (
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	v1helper "k8s.io/component-helpers/scheduling/corev1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// PodTopologySpread favours nodes in the domains with the fewest matching pods, for the
// pod's ScheduleAnyway topology spread constraints. A pod without any spread constraint but
// with a controller (ReplicaSet, StatefulSet, Job…) gets upstream's system default
// constraints — maxSkew 3 over kubernetes.io/hostname and 5 over topology.kubernetes.io/zone —
// applied to the pods of the same controller, so that replicas of one owner spread across
// nodes and zones.
type PodTopologySpread struct{}

// Name implements framework.Scorer.
func (PodTopologySpread) Name() string { return PodTopologySpreadName }

type spreadScoreState struct {
	constraints []framework.SpreadConstraint
	nodes       []*framework.NodeInfo
	ignored     map[string]bool
	// counts[i] holds the matching pods per domain of constraint i (not for hostname ones).
	counts []map[string]int64
	// perNode[i] holds the matching pods per node name, for hostname constraints.
	perNode []map[string]int
	weights []float64
}

// PreScore counts the matching pods per domain. Explicit constraints visit the pods their
// selector can match (label index); default spreading reads the owner's per-node counts that
// the snapshot maintains.
func (PodTopologySpread) PreScore(pod *framework.PodInfo, snap *framework.Snapshot, nodes []*framework.NodeInfo) (any, bool) {
	if snap.NumNodes() == 0 {
		return nil, false
	}
	s := &spreadScoreState{nodes: nodes, ignored: map[string]bool{}}
	requireAll := true
	switch {
	case len(pod.SoftSpread) > 0:
		s.constraints = pod.SoftSpread
		s.perNode = make([]map[string]int, len(s.constraints))
		for i, c := range s.constraints {
			s.perNode[i] = snap.PodsPerNode(pod.Pod.Namespace, c.Selector)
		}
	case len(pod.HardSpread) == 0 && pod.Owner != "":
		requireAll = false
		s.constraints = []framework.SpreadConstraint{
			{MaxSkew: defaultHostnameMaxSkew, TopologyKey: v1.LabelHostname, Selector: labels.Everything(), MinDomains: 1, NodeAffinityPolicy: v1.NodeInclusionPolicyHonor, NodeTaintsPolicy: v1.NodeInclusionPolicyIgnore},
			{MaxSkew: defaultZoneMaxSkew, TopologyKey: v1.LabelTopologyZone, Selector: labels.Everything(), MinDomains: 1, NodeAffinityPolicy: v1.NodeInclusionPolicyHonor, NodeTaintsPolicy: v1.NodeInclusionPolicyIgnore},
		}
		owned := snap.OwnerPods(pod.Owner)
		s.perNode = []map[string]int{owned, owned}
	default:
		return nil, false
	}

	s.counts = make([]map[string]int64, len(s.constraints))
	size := make([]int, len(s.constraints))
	for i := range s.constraints {
		s.counts[i] = map[string]int64{}
	}
	for _, n := range nodes {
		if requireAll && !hasKeys(n.Node.Labels, s.constraints) {
			s.ignored[n.Name] = true
			continue
		}
		for i, c := range s.constraints {
			if c.TopologyKey == v1.LabelHostname {
				continue
			}
			v := n.Node.Labels[c.TopologyKey]
			if _, ok := s.counts[i][v]; !ok {
				s.counts[i][v] = 0
				size[i]++
			}
		}
	}
	// Count over every node holding matching pods, whether or not it passed the filters.
	for i, c := range s.constraints {
		if c.TopologyKey == v1.LabelHostname {
			continue
		}
		for name, cnt := range s.perNode[i] {
			n := snap.NodeInfo(name)
			if n == nil || n.Node == nil {
				continue
			}
			if requireAll && !hasKeys(n.Node.Labels, s.constraints) {
				continue
			}
			if !included(pod, n, c) {
				continue
			}
			v := n.Node.Labels[c.TopologyKey]
			if _, ok := s.counts[i][v]; ok {
				s.counts[i][v] += int64(cnt)
			}
		}
	}
	s.weights = make([]float64, len(s.constraints))
	for i, c := range s.constraints {
		sz := size[i]
		if c.TopologyKey == v1.LabelHostname {
			sz = len(nodes) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(sz + 2))
	}
	return s, true
}

// Score implements framework.Scorer.
func (PodTopologySpread) Score(state any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	s := state.(*spreadScoreState)
	if len(s.ignored) > 0 && s.ignored[node.Name] {
		return 0
	}
	var score float64
	for i, c := range s.constraints {
		v, ok := node.Node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var cnt int64
		if c.TopologyKey == v1.LabelHostname {
			cnt = int64(s.perNode[i][node.Name])
		} else {
			cnt = s.counts[i][v]
		}
		score += float64(cnt)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score))
}

// Normalize turns "fewest matching pods" into the highest score; ignored nodes get 0.
func (PodTopologySpread) Normalize(state any, scores []int64) {
	s := state.(*spreadScoreState)
	var min int64 = math.MaxInt64
	var max int64
	for i, sc := range scores {
		if s.ignored[s.nodes[i].Name] {
			continue
		}
		if sc < min {
			min = sc
		}
		if sc > max {
			max = sc
		}
	}
	for i, sc := range scores {
		switch {
		case s.ignored[s.nodes[i].Name]:
			scores[i] = 0
		case max == 0:
			scores[i] = framework.MaxNodeScore
		default:
			scores[i] = framework.MaxNodeScore * (max + min - sc) / max
		}
	}
}

func hasKeys(l map[string]string, cs []framework.SpreadConstraint) bool {
	for _, c := range cs {
		if _, ok := l[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

func included(pod *framework.PodInfo, n *framework.NodeInfo, c framework.SpreadConstraint) bool {
	if c.NodeAffinityPolicy != v1.NodeInclusionPolicyIgnore && pod.HasNodeAffinity {
		if ok, _ := pod.NodeAffinity.Match(n.Node); !ok {
			return false
		}
	}
	if c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
		if _, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, n.Taints, pod.Pod.Spec.Tolerations, doNotSchedule, false); untolerated {
			return false
		}
	}
	return true
}

func doNotSchedule(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}
