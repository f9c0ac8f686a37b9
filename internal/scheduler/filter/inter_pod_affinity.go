package filter

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Reasons of InterPodAffinity, as upstream words them.
const (
	ErrReasonAffinity             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ErrReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

var (
	statusAffinity             = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinity)
	statusAntiAffinity         = framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinity)
	statusExistingAntiAffinity = framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinity)
)

// InterPodAffinity enforces required pod affinity and anti-affinity, the pod's own and the
// anti-affinity of the pods already placed, per topology domain (topologyKey). A pod whose
// affinity matches itself may go first when no pod matches yet, as upstream.
type InterPodAffinity struct{}

// Name implements framework.Filter.
func (InterPodAffinity) Name() string { return InterPodAffinityName }

type topologyPair struct{ key, value string }

type pairCounts map[topologyPair]int64

func (m pairCounts) update(node *framework.NodeInfo, key string, delta int64) {
	if node == nil || node.Node == nil {
		return
	}
	v, ok := node.Node.Labels[key]
	if !ok {
		return
	}
	p := topologyPair{key, v}
	m[p] += delta
	if m[p] == 0 {
		delete(m, p)
	}
}

func (m pairCounts) clone() pairCounts {
	c := make(pairCounts, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

type affinityState struct {
	pod      *framework.PodInfo
	snap     *framework.Snapshot
	nsLabels labels.Set
	// existingAnti counts, per domain, the placed pods whose required anti-affinity the pod
	// matches; affinity the placed pods matching all the pod's affinity terms; anti those
	// matching one of its anti-affinity terms.
	existingAnti, affinity, anti pairCounts
	// selfMatch: the pod matches all its own affinity terms.
	selfMatch bool
}

// PreFilter counts the domains. Through the snapshot's indexes it visits only the placed
// pods' anti-affinity terms that can select the pod, and the pods the pod's own terms can
// select; never every pod.
func (InterPodAffinity) PreFilter(pod *framework.PodInfo, snap *framework.Snapshot) (any, bool, *framework.Status) {
	if pod.ParseError != nil {
		return nil, false, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %+v", pod.ParseError))
	}
	hasTerms := len(pod.RequiredAffinity)+len(pod.RequiredAntiAffinity) > 0
	if !hasTerms && !snap.HasPodsWithRequiredAntiAffinity() {
		return nil, true, nil
	}
	s := &affinityState{
		pod: pod, snap: snap, nsLabels: snap.NamespaceLabels(pod.Pod.Namespace),
		existingAnti: pairCounts{}, affinity: pairCounts{}, anti: pairCounts{},
	}
	snap.TermsMatching(framework.RequiredAntiAffinity, pod.Pod, s.nsLabels, func(p *framework.PodInfo, t *framework.AffinityTerm, _ int32) {
		s.existingAnti.update(snap.NodeOf(p), t.TopologyKey, 1)
	})
	if !hasTerms {
		if len(s.existingAnti) == 0 {
			return nil, true, nil
		}
		return s, false, nil
	}
	if terms := pod.RequiredAffinity; len(terms) > 0 {
		first := &terms[0]
		snap.MatchingPods(first.Namespaces, first.NamespaceSelector, first.Selector, func(p *framework.PodInfo) {
			if s.matchesAll(p) {
				node := snap.NodeOf(p)
				for i := range terms {
					s.affinity.update(node, terms[i].TopologyKey, 1)
				}
			}
		})
		s.selfMatch = true
		for i := range terms {
			if !terms[i].Matches(pod.Pod, s.nsLabels) {
				s.selfMatch = false
			}
		}
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		snap.MatchingPods(t.Namespaces, t.NamespaceSelector, t.Selector, func(p *framework.PodInfo) {
			s.anti.update(snap.NodeOf(p), t.TopologyKey, 1)
		})
	}
	return s, false, nil
}

// matchesAll reports whether placed pod p matches every required affinity term of the pod.
func (s *affinityState) matchesAll(p *framework.PodInfo) bool {
	terms := s.pod.RequiredAffinity
	if len(terms) == 0 {
		return false
	}
	nsl := s.snap.NamespaceLabels(p.Pod.Namespace)
	for i := range terms {
		if !terms[i].Matches(p.Pod, nsl) {
			return false
		}
	}
	return true
}

// Filter implements framework.Filter.
func (InterPodAffinity) Filter(state any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	s := state.(*affinityState)
	l := node.Node.Labels
	if terms := pod.RequiredAffinity; len(terms) > 0 {
		exist := true
		for i := range terms {
			v, ok := l[terms[i].TopologyKey]
			if !ok {
				return statusAffinity
			}
			if s.affinity[topologyPair{terms[i].TopologyKey, v}] <= 0 {
				exist = false
			}
		}
		// The first pod of a group with affinity to itself may go anywhere.
		if !exist && !(len(s.affinity) == 0 && s.selfMatch) {
			return statusAffinity
		}
	}
	if len(s.anti) > 0 {
		for i := range pod.RequiredAntiAffinity {
			key := pod.RequiredAntiAffinity[i].TopologyKey
			if v, ok := l[key]; ok && s.anti[topologyPair{key, v}] > 0 {
				return statusAntiAffinity
			}
		}
	}
	if len(s.existingAnti) > 0 {
		for k, v := range l {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return statusExistingAntiAffinity
			}
		}
	}
	return nil
}

// Clone implements framework.MutableState.
func (s *affinityState) Clone() any {
	c := *s
	c.existingAnti, c.affinity, c.anti = s.existingAnti.clone(), s.affinity.clone(), s.anti.clone()
	return &c
}

// AddPod implements framework.MutableState.
func (s *affinityState) AddPod(_, other *framework.PodInfo, node *framework.NodeInfo) {
	s.update(other, node, 1)
}

// RemovePod implements framework.MutableState.
func (s *affinityState) RemovePod(_, other *framework.PodInfo, node *framework.NodeInfo) {
	s.update(other, node, -1)
}

func (s *affinityState) update(other *framework.PodInfo, node *framework.NodeInfo, delta int64) {
	for i := range other.RequiredAntiAffinity {
		t := &other.RequiredAntiAffinity[i]
		if t.Matches(s.pod.Pod, s.nsLabels) {
			s.existingAnti.update(node, t.TopologyKey, delta)
		}
	}
	if s.matchesAll(other) {
		for i := range s.pod.RequiredAffinity {
			s.affinity.update(node, s.pod.RequiredAffinity[i].TopologyKey, delta)
		}
	}
	nsl := s.snap.NamespaceLabels(other.Pod.Namespace)
	for i := range s.pod.RequiredAntiAffinity {
		t := &s.pod.RequiredAntiAffinity[i]
		if t.Matches(other.Pod, nsl) {
			s.anti.update(node, t.TopologyKey, delta)
		}
	}
}

var (
	_ framework.MutableState = (*affinityState)(nil)
	_ framework.MutableState = (*spreadState)(nil)
)
