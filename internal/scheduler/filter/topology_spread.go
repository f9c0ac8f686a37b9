package filter

import (
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	v1helper "k8s.io/component-helpers/scheduling/corev1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Reasons of PodTopologySpread, as upstream words them.
const (
	ErrReasonSpread             = "node(s) didn't match pod topology spread constraints"
	ErrReasonSpreadMissingLabel = ErrReasonSpread + " (missing required label)"
)

var (
	statusSpread             = framework.NewStatus(framework.Unschedulable, ErrReasonSpread)
	statusSpreadMissingLabel = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonSpreadMissingLabel)
)

// PodTopologySpread enforces the pod's DoNotSchedule topology spread constraints: placing
// the pod in a domain must not make that domain hold more than maxSkew matching pods above
// the emptiest eligible domain (which counts as 0 while fewer than minDomains exist).
// Eligible domains come from the nodes that pass the constraint's node inclusion policies
// (node affinity honoured, taints ignored, by default) and carry every constraint's key.
type PodTopologySpread struct{}

// Name implements framework.Filter.
func (PodTopologySpread) Name() string { return PodTopologySpreadName }

// spreadState counts, per constraint, the matching pods of each eligible domain.
type spreadState struct {
	pod         *framework.PodInfo
	constraints []framework.SpreadConstraint
	counts      []map[string]int
	paths       []criticalPaths
	// self[i] is 1 if the pod matches constraint i's selector (it will count itself).
	self []int
}

// PreFilter counts the matching pods per domain, visiting only the pods the constraint's
// selector can match (the snapshot's label index) and every node once.
func (PodTopologySpread) PreFilter(pod *framework.PodInfo, snap *framework.Snapshot) (any, bool, *framework.Status) {
	cs := pod.HardSpread
	if len(cs) == 0 {
		return nil, true, nil
	}
	return newSpreadState(pod, cs, snap), false, nil
}

func newSpreadState(pod *framework.PodInfo, cs []framework.SpreadConstraint, snap *framework.Snapshot) *spreadState {
	s := &spreadState{pod: pod, constraints: cs, counts: make([]map[string]int, len(cs)), paths: make([]criticalPaths, len(cs)), self: make([]int, len(cs))}
	podLabels := labels.Set(pod.Pod.Labels)
	for i, c := range cs {
		if c.Selector.Matches(podLabels) {
			s.self[i] = 1
		}
	}
	if len(cs) == 1 && !needsNodeChecks(pod, cs[0]) {
		// Every node carrying the key is eligible: the domains are the key's values, and only
		// the matching pods need visiting.
		c := cs[0]
		counts := make(map[string]int, len(snap.TopologyValues(c.TopologyKey)))
		for v := range snap.TopologyValues(c.TopologyKey) {
			counts[v] = 0
		}
		for name, cnt := range snap.PodsPerNode(pod.Pod.Namespace, c.Selector) {
			if n := snap.NodeInfo(name); n != nil && n.Node != nil {
				if v, ok := n.Node.Labels[c.TopologyKey]; ok {
					counts[v] += cnt
				}
			}
		}
		s.counts[0] = counts
	} else {
		perNode := make([]map[string]int, len(cs))
		for i, c := range cs {
			perNode[i] = snap.PodsPerNode(pod.Pod.Namespace, c.Selector)
			s.counts[i] = map[string]int{}
		}
		for _, n := range snap.Nodes() {
			l := n.Node.Labels
			if !hasTopologyKeys(l, cs) {
				continue
			}
			in := inclusion{pod: pod, node: n}
			for i, c := range cs {
				if in.includes(c) {
					s.counts[i][l[c.TopologyKey]] += perNode[i][n.Name]
				}
			}
		}
	}
	for i := range cs {
		s.paths[i] = newCriticalPaths()
		for v, num := range s.counts[i] {
			s.paths[i].update(v, num)
		}
	}
	return s
}

// needsNodeChecks reports whether a node's eligibility for constraint c depends on more than
// carrying its key: the pod's node affinity (when honoured) or its tolerations (when taints
// are honoured).
func needsNodeChecks(pod *framework.PodInfo, c framework.SpreadConstraint) bool {
	return (c.NodeAffinityPolicy != v1.NodeInclusionPolicyIgnore && pod.HasNodeAffinity) || c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor
}

// Filter implements framework.Filter.
func (PodTopologySpread) Filter(state any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	s := state.(*spreadState)
	for i, c := range s.constraints {
		v, ok := node.Node.Labels[c.TopologyKey]
		if !ok {
			return statusSpreadMissingLabel
		}
		min := s.paths[i][0].num
		if len(s.counts[i]) < int(c.MinDomains) {
			min = 0
		}
		if s.counts[i][v]+s.self[i]-min > int(c.MaxSkew) {
			return statusSpread
		}
	}
	return nil
}

// Clone implements framework.MutableState.
func (s *spreadState) Clone() any {
	c := &spreadState{pod: s.pod, constraints: s.constraints, self: s.self, counts: make([]map[string]int, len(s.counts)), paths: append([]criticalPaths(nil), s.paths...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

// AddPod implements framework.MutableState.
func (s *spreadState) AddPod(pod, other *framework.PodInfo, node *framework.NodeInfo) {
	s.update(other, node, 1)
}

// RemovePod implements framework.MutableState.
func (s *spreadState) RemovePod(pod, other *framework.PodInfo, node *framework.NodeInfo) {
	s.update(other, node, -1)
}

func (s *spreadState) update(other *framework.PodInfo, node *framework.NodeInfo, delta int) {
	if other.Pod.Namespace != s.pod.Pod.Namespace || node.Node == nil || !hasTopologyKeys(node.Node.Labels, s.constraints) {
		return
	}
	in := inclusion{pod: s.pod, node: node}
	l := labels.Set(other.Pod.Labels)
	for i, c := range s.constraints {
		if !c.Selector.Matches(l) || !in.includes(c) {
			continue
		}
		v := node.Node.Labels[c.TopologyKey]
		s.counts[i][v] += delta
		s.paths[i].update(v, s.counts[i][v])
	}
}

func hasTopologyKeys(l map[string]string, cs []framework.SpreadConstraint) bool {
	for _, c := range cs {
		if _, ok := l[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// inclusion evaluates a node's inclusion policies lazily, once per node.
type inclusion struct {
	pod                     *framework.PodInfo
	node                    *framework.NodeInfo
	affinityDone, affinity  bool
	taintsDone, tolerations bool
}

func (in *inclusion) includes(c framework.SpreadConstraint) bool {
	if c.NodeAffinityPolicy != v1.NodeInclusionPolicyIgnore && in.pod.HasNodeAffinity {
		if !in.affinityDone {
			in.affinity, _ = in.pod.NodeAffinity.Match(in.node.Node)
			in.affinityDone = true
		}
		if !in.affinity {
			return false
		}
	}
	if c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
		if !in.taintsDone {
			_, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, in.node.Taints, in.pod.Pod.Spec.Tolerations, doNotSchedule, false)
			in.tolerations = !untolerated
			in.taintsDone = true
		}
		if !in.tolerations {
			return false
		}
	}
	return true
}

// criticalPaths keeps the two domains with the fewest matching pods; [0] is the minimum
// (upstream's podtopologyspread criticalPaths).
type criticalPaths [2]struct {
	value string
	num   int
}

func newCriticalPaths() criticalPaths {
	var p criticalPaths
	p[0].num, p[1].num = math.MaxInt32, math.MaxInt32
	return p
}

func (p *criticalPaths) update(v string, num int) {
	i := -1
	if v == p[0].value {
		i = 0
	} else if v == p[1].value {
		i = 1
	}
	if i >= 0 {
		p[i].num = num
		if p[0].num > p[1].num {
			p[0], p[1] = p[1], p[0]
		}
		return
	}
	if num < p[0].num {
		p[1] = p[0]
		p[0].value, p[0].num = v, num
	} else if num < p[1].num {
		p[1].value, p[1].num = v, num
	}
}
