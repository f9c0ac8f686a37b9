package framework

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is the cluster as placement sees it: the nodes, the pods placed on each
// (bound or assumed), and aggregates maintained as pods come and go so that no decision
// scans every pod:
//   - per node: requested resources, used host ports, effective taints, images;
//   - a label index of pods per namespace, so that a selector visits only the pods that can
//     match it (affinity terms, spread constraints);
//   - per controller owner, its non-terminating pods per node (default spreading);
//   - per (namespace, selector) asked for, its non-terminating matching pods per node
//     (topology spread constraints: a workload's pods ask with the same selector again and
//     again, and counting per node beats visiting every matching pod for each of them);
//   - the affinity terms of the placed pods, indexed by a label their selector requires, so
//     that finding the terms that select a given pod visits only plausible ones;
//   - per topology key, its values among the nodes; how many nodes hold each image; each
//     namespace's labels.
//
// Ownership: one goroutine (the scheduling loop) mutates a Snapshot, and only between
// scheduling cycles; during a cycle it is read-only and may be read from many goroutines.
// Placement code must not modify anything reachable from it.
type Snapshot struct {
	nodes      []*NodeInfo
	infos      map[string]*NodeInfo
	pods       map[types.UID]*PodInfo
	byNS       map[string]*nsIndex
	owners     map[types.UID]map[string]int
	terms      [numTermKinds]termIndex
	topology   map[string]map[string]int
	imageNodes map[string]int
	nsLabels   map[string]labels.Set

	// podCounts memoizes PodsPerNode. It is filled lazily, possibly during a cycle, hence
	// the lock; AddPod and RemovePod keep its entries current.
	podCountsMu sync.Mutex
	podCounts   map[string]*podCount
}

// podCount is the non-terminating pods of namespace ns that sel matches, per node name.
type podCount struct {
	ns      string
	sel     labels.Selector
	perNode map[string]int
}

// maxPodCounts bounds the memo of PodsPerNode; beyond it the memo starts over, so that the
// selectors of workloads long gone do not pile up.
const maxPodCounts = 512

type podSet map[*PodInfo]struct{}

type nsIndex struct {
	pods    podSet
	byLabel map[string]map[string]podSet
	byKey   map[string]int
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		infos:      map[string]*NodeInfo{},
		pods:       map[types.UID]*PodInfo{},
		byNS:       map[string]*nsIndex{},
		owners:     map[types.UID]map[string]int{},
		topology:   map[string]map[string]int{},
		imageNodes: map[string]int{},
		nsLabels:   map[string]labels.Set{},
		podCounts:  map[string]*podCount{},
	}
}

// PodsPerNode returns, per node name, how many non-terminating placed pods of namespace ns
// sel matches. The map belongs to the snapshot: read it, never change it, and do not keep it
// past the scheduling cycle.
func (s *Snapshot) PodsPerNode(ns string, sel labels.Selector) map[string]int {
	key := ns + "\x00" + sel.String()
	s.podCountsMu.Lock()
	defer s.podCountsMu.Unlock()
	if c, ok := s.podCounts[key]; ok {
		return c.perNode
	}
	if len(s.podCounts) >= maxPodCounts {
		clear(s.podCounts)
	}
	c := &podCount{ns: ns, sel: sel, perNode: map[string]int{}}
	s.MatchingPods([]string{ns}, nil, sel, func(p *PodInfo) {
		if !p.Terminating {
			c.perNode[p.Pod.Spec.NodeName]++
		}
	})
	s.podCounts[key] = c
	return c.perNode
}

// countPod adds delta to the memoized counts that pi belongs to.
func (s *Snapshot) countPod(pi *PodInfo, delta int) {
	if pi.Terminating {
		return
	}
	s.podCountsMu.Lock()
	defer s.podCountsMu.Unlock()
	for _, c := range s.podCounts {
		if c.ns != pi.Pod.Namespace || !c.sel.Matches(labels.Set(pi.Pod.Labels)) {
			continue
		}
		node := pi.Pod.Spec.NodeName
		if c.perNode[node] += delta; c.perNode[node] <= 0 {
			delete(c.perNode, node)
		}
	}
}

// Nodes lists the known nodes. The slice is owned by the snapshot.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// NumNodes is len(Nodes()).
func (s *Snapshot) NumNodes() int { return len(s.nodes) }

// NodeInfo returns the node named name, or nil. It may return a node whose Node is nil.
func (s *Snapshot) NodeInfo(name string) *NodeInfo { return s.infos[name] }

// Pod returns the placed pod with uid, or nil.
func (s *Snapshot) Pod(uid types.UID) *PodInfo { return s.pods[uid] }

// NumPods counts the placed pods.
func (s *Snapshot) NumPods() int { return len(s.pods) }

// NamespaceLabels returns the labels of namespace ns (nil if unknown).
func (s *Snapshot) NamespaceLabels(ns string) labels.Set { return s.nsLabels[ns] }

// ImageNumNodes counts the nodes that hold the image (a normalized name).
func (s *Snapshot) ImageNumNodes(image string) int { return s.imageNodes[image] }

// OwnerPods returns, for controller owner, its non-terminating pods per node name.
// The map is owned by the snapshot.
func (s *Snapshot) OwnerPods(owner types.UID) map[string]int { return s.owners[owner] }

// HasPodsWithRequiredAntiAffinity reports whether any placed pod has required anti-affinity.
func (s *Snapshot) HasPodsWithRequiredAntiAffinity() bool {
	return s.terms[RequiredAntiAffinity].count > 0
}

// HasPodsWithAffinity reports whether any placed pod carries affinity terms.
func (s *Snapshot) HasPodsWithAffinity() bool {
	for i := range s.terms {
		if s.terms[i].count > 0 {
			return true
		}
	}
	return false
}

// TopologyValues returns, for a node label key, how many listed nodes carry each value.
// The map is owned by the snapshot.
func (s *Snapshot) TopologyValues(key string) map[string]int { return s.topology[key] }

// NodeOf returns the node a placed pod is on.
func (s *Snapshot) NodeOf(pi *PodInfo) *NodeInfo { return s.infos[pi.Pod.Spec.NodeName] }

// MatchingPods calls fn for every placed pod of the given namespaces (plus those whose labels
// nsSelector matches; pass nil or labels.Nothing() for none) whose labels sel matches.
// Through the label index it visits only the pods that carry the most selective label the
// selector requires.
func (s *Snapshot) MatchingPods(namespaces []string, nsSelector labels.Selector, sel labels.Selector, fn func(*PodInfo)) {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return // labels.Nothing()
	}
	visit := func(ns string) {
		idx := s.byNS[ns]
		if idx != nil {
			idx.matching(reqs, sel, fn)
		}
	}
	for i, ns := range namespaces {
		if !contains(namespaces[:i], ns) {
			visit(ns)
		}
	}
	if nsSelector == nil {
		return
	}
	if _, ok := nsSelector.Requirements(); !ok {
		return
	}
	for ns := range s.byNS {
		if !contains(namespaces, ns) && nsSelector.Matches(s.nsLabels[ns]) {
			visit(ns)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (idx *nsIndex) matching(reqs labels.Requirements, sel labels.Selector, fn func(*PodInfo)) {
	var best []podSet
	bestN := len(idx.pods)
	for i := range reqs {
		r := &reqs[i]
		var sets []podSet
		n := 0
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			vals := idx.byLabel[r.Key()]
			for _, v := range r.ValuesUnsorted() {
				if ps := vals[v]; len(ps) > 0 {
					sets = append(sets, ps)
					n += len(ps)
				}
			}
		case selection.Exists:
			n = idx.byKey[r.Key()]
			if n < bestN {
				for _, ps := range idx.byLabel[r.Key()] {
					sets = append(sets, ps)
				}
			}
		default:
			continue
		}
		if n == 0 {
			return // a required label no pod carries
		}
		if n < bestN {
			best, bestN = sets, n
		}
	}
	if best == nil {
		for pi := range idx.pods {
			if sel.Matches(labels.Set(pi.Pod.Labels)) {
				fn(pi)
			}
		}
		return
	}
	for _, ps := range best {
		for pi := range ps {
			if sel.Matches(labels.Set(pi.Pod.Labels)) {
				fn(pi)
			}
		}
	}
}

// SetNode adds or updates a node.
func (s *Snapshot) SetNode(node *v1.Node) {
	n := s.infos[node.Name]
	if n == nil {
		n = newNodeInfo(node.Name)
		s.infos[node.Name] = n
	}
	if n.Node != nil {
		for img := range n.Images {
			s.releaseImage(img)
		}
		s.releaseTopology(n.Node.Labels)
	}
	n.setNode(node)
	for k, v := range node.Labels {
		vals := s.topology[k]
		if vals == nil {
			vals = map[string]int{}
			s.topology[k] = vals
		}
		vals[v]++
	}
	for img := range n.Images {
		s.imageNodes[img]++
	}
	if n.index < 0 {
		n.index = len(s.nodes)
		s.nodes = append(s.nodes, n)
	}
}

// RemoveNode removes a node. Pods still bound to it keep it known, unlisted.
func (s *Snapshot) RemoveNode(name string) {
	n := s.infos[name]
	if n == nil || n.Node == nil {
		return
	}
	for img := range n.Images {
		s.releaseImage(img)
	}
	s.releaseTopology(n.Node.Labels)
	n.Node, n.Images, n.Taints, n.Allocatable = nil, nil, nil, Resource{}
	last := len(s.nodes) - 1
	moved := s.nodes[last]
	s.nodes[n.index] = moved
	moved.index = n.index
	s.nodes[last] = nil
	s.nodes = s.nodes[:last]
	n.index = -1
	if len(n.Pods) == 0 {
		delete(s.infos, name)
	}
}

func (s *Snapshot) releaseTopology(l map[string]string) {
	for k, v := range l {
		vals := s.topology[k]
		if vals[v] <= 1 {
			delete(vals, v)
			if len(vals) == 0 {
				delete(s.topology, k)
			}
		} else {
			vals[v]--
		}
	}
}

func (s *Snapshot) releaseImage(img string) {
	if s.imageNodes[img] <= 1 {
		delete(s.imageNodes, img)
	} else {
		s.imageNodes[img]--
	}
}

// AddPod places pi on pi.Pod.Spec.NodeName, replacing any pod with the same UID.
func (s *Snapshot) AddPod(pi *PodInfo) {
	s.RemovePod(pi.Pod.UID)
	name := pi.Pod.Spec.NodeName
	n := s.infos[name]
	if n == nil {
		n = newNodeInfo(name)
		s.infos[name] = n
	}
	n.AddPod(pi)
	s.pods[pi.Pod.UID] = pi
	idx := s.byNS[pi.Pod.Namespace]
	if idx == nil {
		idx = &nsIndex{pods: podSet{}, byLabel: map[string]map[string]podSet{}, byKey: map[string]int{}}
		s.byNS[pi.Pod.Namespace] = idx
	}
	idx.pods[pi] = struct{}{}
	for k, v := range pi.Pod.Labels {
		vals := idx.byLabel[k]
		if vals == nil {
			vals = map[string]podSet{}
			idx.byLabel[k] = vals
		}
		ps := vals[v]
		if ps == nil {
			ps = podSet{}
			vals[v] = ps
		}
		ps[pi] = struct{}{}
		idx.byKey[k]++
	}
	if pi.Owner != "" && !pi.Terminating {
		m := s.owners[pi.Owner]
		if m == nil {
			m = map[string]int{}
			s.owners[pi.Owner] = m
		}
		m[name]++
	}
	for kind := range s.terms {
		s.terms[kind].add(pi, TermKind(kind))
	}
	s.countPod(pi, 1)
}

// RemovePod removes the placed pod with uid, if any, and returns it.
func (s *Snapshot) RemovePod(uid types.UID) *PodInfo {
	pi := s.pods[uid]
	if pi == nil {
		return nil
	}
	delete(s.pods, uid)
	name := pi.Pod.Spec.NodeName
	if n := s.infos[name]; n != nil {
		n.RemovePod(uid)
		if n.Node == nil && len(n.Pods) == 0 {
			delete(s.infos, name)
		}
	}
	if idx := s.byNS[pi.Pod.Namespace]; idx != nil {
		delete(idx.pods, pi)
		for k, v := range pi.Pod.Labels {
			if ps := idx.byLabel[k][v]; ps != nil {
				delete(ps, pi)
				if len(ps) == 0 {
					delete(idx.byLabel[k], v)
					if len(idx.byLabel[k]) == 0 {
						delete(idx.byLabel, k)
					}
				}
			}
			if idx.byKey[k] <= 1 {
				delete(idx.byKey, k)
			} else {
				idx.byKey[k]--
			}
		}
		if len(idx.pods) == 0 {
			delete(s.byNS, pi.Pod.Namespace)
		}
	}
	if pi.Owner != "" && !pi.Terminating {
		if m := s.owners[pi.Owner]; m != nil {
			if m[name] <= 1 {
				delete(m, name)
			} else {
				m[name]--
			}
			if len(m) == 0 {
				delete(s.owners, pi.Owner)
			}
		}
	}
	for kind := range s.terms {
		s.terms[kind].remove(pi, TermKind(kind))
	}
	s.countPod(pi, -1)
	return pi
}

// SetNamespace records the labels of a namespace (for affinity namespaceSelectors).
func (s *Snapshot) SetNamespace(name string, l map[string]string) {
	s.nsLabels[name] = labels.Set(l)
}

// RemoveNamespace forgets a namespace's labels.
func (s *Snapshot) RemoveNamespace(name string) {
	delete(s.nsLabels, name)
}
