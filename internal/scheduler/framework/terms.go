package framework

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// TermKind names the kinds of pod affinity terms the snapshot indexes for its pods.
type TermKind int

const (
	RequiredAffinity TermKind = iota
	RequiredAntiAffinity
	PreferredAffinity
	PreferredAntiAffinity
	numTermKinds
)

// termRef is one term of a placed pod.
type termRef struct {
	pod *PodInfo
	i   int
}

// termIndex files each term under one label its selector requires (key and each allowed
// value), so that the terms selecting a pod are found from the pod's own labels. Terms whose
// selector requires no specific label value go to other.
type termIndex struct {
	byLabel map[string]map[string]map[termRef]struct{}
	other   map[termRef]struct{}
	count   int
}

// term returns the i-th term of kind of pi, with its weight (0 for required terms).
func (pi *PodInfo) term(kind TermKind, i int) (*AffinityTerm, int32) {
	switch kind {
	case RequiredAffinity:
		return &pi.RequiredAffinity[i], 0
	case RequiredAntiAffinity:
		return &pi.RequiredAntiAffinity[i], 0
	case PreferredAffinity:
		return &pi.PreferredAffinity[i].AffinityTerm, pi.PreferredAffinity[i].Weight
	default:
		return &pi.PreferredAntiAffinity[i].AffinityTerm, pi.PreferredAntiAffinity[i].Weight
	}
}

func (pi *PodInfo) numTerms(kind TermKind) int {
	switch kind {
	case RequiredAffinity:
		return len(pi.RequiredAffinity)
	case RequiredAntiAffinity:
		return len(pi.RequiredAntiAffinity)
	case PreferredAffinity:
		return len(pi.PreferredAffinity)
	default:
		return len(pi.PreferredAntiAffinity)
	}
}

// indexKey picks the label a selector requires: the first equality or set requirement.
func indexKey(sel labels.Selector) (key string, values []string, ok bool) {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return "", nil, false
	}
	for i := range reqs {
		switch reqs[i].Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			return reqs[i].Key(), reqs[i].ValuesUnsorted(), true
		}
	}
	return "", nil, true
}

func (x *termIndex) add(pi *PodInfo, kind TermKind) {
	for i := 0; i < pi.numTerms(kind); i++ {
		t, _ := pi.term(kind, i)
		key, values, selectable := indexKey(t.Selector)
		if !selectable {
			continue // labels.Nothing(): selects no pod
		}
		ref := termRef{pi, i}
		x.count++
		if key == "" {
			if x.other == nil {
				x.other = map[termRef]struct{}{}
			}
			x.other[ref] = struct{}{}
			continue
		}
		if x.byLabel == nil {
			x.byLabel = map[string]map[string]map[termRef]struct{}{}
		}
		vals := x.byLabel[key]
		if vals == nil {
			vals = map[string]map[termRef]struct{}{}
			x.byLabel[key] = vals
		}
		for _, v := range values {
			refs := vals[v]
			if refs == nil {
				refs = map[termRef]struct{}{}
				vals[v] = refs
			}
			refs[ref] = struct{}{}
		}
	}
}

func (x *termIndex) remove(pi *PodInfo, kind TermKind) {
	for i := 0; i < pi.numTerms(kind); i++ {
		t, _ := pi.term(kind, i)
		key, values, selectable := indexKey(t.Selector)
		if !selectable {
			continue
		}
		ref := termRef{pi, i}
		x.count--
		if key == "" {
			delete(x.other, ref)
			continue
		}
		vals := x.byLabel[key]
		for _, v := range values {
			delete(vals[v], ref)
			if len(vals[v]) == 0 {
				delete(vals, v)
			}
		}
		if len(vals) == 0 {
			delete(x.byLabel, key)
		}
	}
}

// TermsMatching calls fn for every term of the given kind, carried by a placed pod, that
// selects pod (living in a namespace labelled nsLabels); weight is 0 for required terms.
// Only the terms filed under one of pod's labels, and those requiring no label value, are
// examined.
func (s *Snapshot) TermsMatching(kind TermKind, pod *v1.Pod, nsLabels labels.Set, fn func(owner *PodInfo, t *AffinityTerm, weight int32)) {
	x := &s.terms[kind]
	if x.count == 0 {
		return
	}
	visit := func(ref termRef) {
		t, w := ref.pod.term(kind, ref.i)
		if t.Matches(pod, nsLabels) {
			fn(ref.pod, t, w)
		}
	}
	for k, v := range pod.Labels {
		for ref := range x.byLabel[k][v] {
			visit(ref)
		}
	}
	for ref := range x.other {
		visit(ref)
	}
}
