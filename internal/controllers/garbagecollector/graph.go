package garbagecollector

import (
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef names one object: enough to GET it and to tell it from another with the same name.
type objectRef struct {
	APIVersion string
	Kind       string
	Namespace  string // for an owner known only by reference: its dependent's namespace
	Name       string
	UID        types.UID
}

func (r objectRef) String() string {
	return fmt.Sprintf("%s %s %s/%s (%s)", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// groupKind is r's group and kind, without the version: references to an object through
// different versions of its API are references to the same object.
func (r objectRef) groupKind() schema.GroupKind {
	gv, _ := schema.ParseGroupVersion(r.APIVersion)
	return schema.GroupKind{Group: gv.Group, Kind: r.Kind}
}

// ownerRefOf is the ref an ownerReference held by an object in namespace ns points at.
func ownerRefOf(o metav1.OwnerReference, ns string) objectRef {
	return objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: ns, Name: o.Name, UID: o.UID}
}

// observation is what an informer tells the graph about one object.
type observation struct {
	ref        objectRef
	owners     []metav1.OwnerReference
	deleting   bool // deletionTimestamp is set
	finalizers []string
}

// node is one object in the graph.
type node struct {
	ref    objectRef
	owners []metav1.OwnerReference
	// virtual: named as an owner by some dependent but not (yet) observed by an informer.
	virtual      bool
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion finalizer.
	deletingDependents bool
	// orphaning: being deleted with the orphan finalizer.
	orphaning bool
}

func (n *node) ownerRef(owner types.UID) (metav1.OwnerReference, bool) {
	for _, o := range n.owners {
		if o.UID == owner {
			return o, true
		}
	}
	return metav1.OwnerReference{}, false
}

// work is what a change of the graph asks the workers to examine.
type work struct {
	attemptToDelete []types.UID
	attemptToOrphan []types.UID
}

func (w *work) delete(uids ...types.UID) { w.attemptToDelete = append(w.attemptToDelete, uids...) }

// graph holds every observed object, its owners, and for each owner UID the UIDs of the
// objects that name it. The dependents index lives apart from the nodes: it outlasts an
// owner's own node, so that dependents are still found after their owner is gone, and it is
// complete before an owner is first observed. All methods are safe for concurrent use.
type graph struct {
	mu         sync.Mutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{}
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// observe records an object an informer added or updated.
func (g *graph) observe(o observation) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	uid := o.ref.UID
	n, found := g.nodes[uid]
	if !found || n.virtual {
		if found {
			// The owner is real now. Dependents that named it by other coordinates must be
			// checked: their reference may point at nothing.
			for dep := range g.dependents[uid] {
				if d := g.nodes[dep]; d != nil {
					if ref, ok := d.ownerRef(uid); ok && !sameObject(ownerRefOf(ref, d.ref.Namespace), o.ref) {
						w.delete(dep)
					}
				}
			}
		}
		n = &node{ref: o.ref}
		g.nodes[uid] = n
	}
	n.ref = o.ref

	added, removed, unblocked := diffOwners(n.owners, o.owners)
	n.owners = o.owners
	for _, ref := range added {
		g.link(ref.UID, uid)
		owner, ok := g.nodes[ref.UID]
		switch {
		case !ok:
			// Nobody has seen this owner: make it virtual and have it looked up.
			g.nodes[ref.UID] = &node{ref: ownerRefOf(ref, o.ref.Namespace), virtual: true}
			w.delete(ref.UID)
		case !owner.virtual && !sameObject(ownerRefOf(ref, o.ref.Namespace), owner.ref):
			// The UID is an object elsewhere (another name, kind or namespace): the reference
			// may point at nothing, so the dependent is checked.
			w.delete(uid)
		}
	}
	for _, ref := range removed {
		g.unlink(ref.UID, uid)
		g.forgetUnreferenced(ref.UID)
	}
	// An owner waiting for its blocking dependents may be free now.
	for _, owner := range append(blocking(removed), unblocked...) {
		if on := g.nodes[owner]; on != nil && on.deletingDependents {
			w.delete(owner)
		}
	}

	wasDeletingDependents, wasOrphaning := n.deletingDependents, n.orphaning
	n.beingDeleted = o.deleting
	n.deletingDependents = o.deleting && slices.Contains(o.finalizers, metav1.FinalizerDeleteDependents)
	n.orphaning = o.deleting && slices.Contains(o.finalizers, metav1.FinalizerOrphanDependents)
	switch {
	case n.orphaning && !wasOrphaning:
		w.attemptToOrphan = append(w.attemptToOrphan, uid)
	case n.deletingDependents && !wasDeletingDependents:
		w.delete(g.sortedDependents(uid)...)
		w.delete(uid)
	}
	return w
}

// remove records that an informer saw the object deleted.
func (g *graph) remove(uid types.UID) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	n, ok := g.nodes[uid]
	if !ok {
		return w
	}
	delete(g.nodes, uid)
	for _, ref := range n.owners {
		g.unlink(ref.UID, uid)
		owner := g.nodes[ref.UID]
		if owner != nil && owner.deletingDependents {
			w.delete(ref.UID)
		}
		g.forgetUnreferenced(ref.UID)
	}
	w.delete(g.sortedDependents(uid)...)
	return w
}

// absent records that a live read found no object with uid at the node's coordinates: a
// virtual node goes, and the dependents are to be examined.
func (g *graph) absent(uid types.UID) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n, ok := g.nodes[uid]; ok && n.virtual {
		delete(g.nodes, uid)
	}
	var w work
	w.delete(g.sortedDependents(uid)...)
	return w
}

// nodeView is a copy of a node and what the workers need of its dependents.
type nodeView struct {
	ref                objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []dependentView
}

type dependentView struct {
	ref objectRef
	// blocking: its reference to the owner has blockOwnerDeletion.
	blocking           bool
	deletingDependents bool
}

// view returns a copy of the node for uid.
func (g *graph) view(uid types.UID) (nodeView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{ref: n.ref, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for _, dep := range g.sortedDependents(uid) {
		d := g.nodes[dep]
		if d == nil {
			continue
		}
		ref, _ := d.ownerRef(uid)
		v.dependents = append(v.dependents, dependentView{
			ref:                d.ref,
			blocking:           ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion,
			deletingDependents: d.deletingDependents,
		})
	}
	return v, true
}

func (g *graph) link(owner, dependent types.UID) {
	deps := g.dependents[owner]
	if deps == nil {
		deps = map[types.UID]struct{}{}
		g.dependents[owner] = deps
	}
	deps[dependent] = struct{}{}
}

func (g *graph) unlink(owner, dependent types.UID) {
	deps := g.dependents[owner]
	delete(deps, dependent)
	if len(deps) == 0 {
		delete(g.dependents, owner)
	}
}

// forgetUnreferenced drops a virtual node that no dependent names any more.
func (g *graph) forgetUnreferenced(uid types.UID) {
	if n := g.nodes[uid]; n != nil && n.virtual && len(g.dependents[uid]) == 0 {
		delete(g.nodes, uid)
	}
}

// sortedDependents lists the dependents of owner in a stable order.
func (g *graph) sortedDependents(owner types.UID) []types.UID {
	out := make([]types.UID, 0, len(g.dependents[owner]))
	for dep := range g.dependents[owner] {
		out = append(out, dep)
	}
	slices.Sort(out)
	return out
}

// diffOwners compares two ownerReference lists by UID: the references added, those removed,
// and the UIDs of owners whose reference stopped blocking their deletion.
func diffOwners(old, cur []metav1.OwnerReference) (added, removed []metav1.OwnerReference, unblocked []types.UID) {
	oldByUID := make(map[types.UID]metav1.OwnerReference, len(old))
	for _, o := range old {
		oldByUID[o.UID] = o
	}
	for _, c := range cur {
		o, ok := oldByUID[c.UID]
		if !ok {
			added = append(added, c)
			continue
		}
		delete(oldByUID, c.UID)
		if isBlocking(o) && !isBlocking(c) {
			unblocked = append(unblocked, c.UID)
		}
	}
	for _, o := range old {
		if _, ok := oldByUID[o.UID]; ok {
			removed = append(removed, o)
		}
	}
	return added, removed, unblocked
}

func isBlocking(o metav1.OwnerReference) bool {
	return o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion
}

func blocking(refs []metav1.OwnerReference) []types.UID {
	var out []types.UID
	for _, r := range refs {
		if isBlocking(r) {
			out = append(out, r.UID)
		}
	}
	return out
}

// sameObject reports whether a reference and an observed object agree on group, kind, name and
// (for namespaced objects) namespace.
func sameObject(ref, observed objectRef) bool {
	if ref.groupKind() != observed.groupKind() || ref.Name != observed.Name {
		return false
	}
	return observed.Namespace == "" || ref.Namespace == observed.Namespace
}
