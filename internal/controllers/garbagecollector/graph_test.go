package garbagecollector

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func ref(apiVersion, kind, ns, name string, uid types.UID) objectRef {
	return objectRef{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, UID: uid}
}

// owner is an ownerReference to r; blocking sets blockOwnerDeletion.
func owner(r objectRef, blocking bool) metav1.OwnerReference {
	o := metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID, Controller: ptr.To(true)}
	if blocking {
		o.BlockOwnerDeletion = ptr.To(true)
	}
	return o
}

var (
	deploy = ref("apps/v1", "Deployment", "ns", "web", "d")
	rs     = ref("apps/v1", "ReplicaSet", "ns", "web-1", "rs")
	pod1   = ref("v1", "Pod", "ns", "web-1-a", "p1")
	pod2   = ref("v1", "Pod", "ns", "web-1-b", "p2")
)

func observed(r objectRef, owners ...metav1.OwnerReference) observation {
	return observation{ref: r, owners: owners}
}

func deleting(o observation, finalizers ...string) observation {
	o.deleting, o.finalizers = true, finalizers
	return o
}

func toDelete(uids ...types.UID) work { return work{attemptToDelete: uids} }

func TestGraph(t *testing.T) {
	type step struct {
		what string
		do   func(g *graph) work
		want work
	}
	observe := func(o observation) func(*graph) work { return func(g *graph) work { return g.observe(o) } }
	remove := func(uid types.UID) func(*graph) work { return func(g *graph) work { return g.remove(uid) } }
	absent := func(uid types.UID) func(*graph) work { return func(g *graph) work { return g.absent(uid) } }

	tests := []struct {
		name  string
		steps []step
		// check looks at the graph after the last step.
		check func(t *testing.T, g *graph)
	}{
		{
			name: "owners observed first need no lookup",
			steps: []step{
				{"deployment", observe(observed(deploy)), work{}},
				{"replicaset", observe(observed(rs, owner(deploy, true))), work{}},
				{"pod", observe(observed(pod1, owner(rs, true))), work{}},
			},
		},
		{
			name: "a dependent seen first makes its owner virtual and looks it up",
			steps: []step{
				{"pod", observe(observed(pod1, owner(rs, true))), toDelete("rs")},
				{"second pod, owner already virtual", observe(observed(pod2, owner(rs, true))), work{}},
				{"replicaset at last", observe(observed(rs)), work{}},
			},
			check: func(t *testing.T, g *graph) {
				v, _ := g.view("rs")
				if v.virtual || v.ref != rs || len(v.dependents) != 2 {
					t.Errorf("replicaset node = %+v, want observed with two dependents", v)
				}
			},
		},
		{
			name: "an owner's deletion has its dependents examined",
			steps: []step{
				{"replicaset", observe(observed(rs, owner(deploy, true))), toDelete("d")},
				{"pods", observe(observed(pod1, owner(rs, true))), work{}},
				{"pod 2", observe(observed(pod2, owner(rs, true))), work{}},
				{"replicaset deleted", remove("rs"), toDelete("p1", "p2")},
				// The index outlives the owner's node: a late event still finds the pods.
				{"deleted again (relist)", remove("rs"), work{}},
				{"confirmed absent", absent("rs"), toDelete("p1", "p2")},
			},
		},
		{
			name: "foreground deletion starts once",
			steps: []step{
				{"replicaset", observe(observed(rs)), work{}},
				{"pod", observe(observed(pod1, owner(rs, true))), work{}},
				{"pod 2", observe(observed(pod2, owner(rs, false))), work{}},
				{"marked", observe(deleting(observed(rs), metav1.FinalizerDeleteDependents)), toDelete("p1", "p2", "rs")},
				{"marked again", observe(deleting(observed(rs), metav1.FinalizerDeleteDependents)), work{}},
				{"blocking pod gone", remove("p1"), toDelete("rs")},
				{"non-blocking pod gone", remove("p2"), toDelete("rs")},
			},
			check: func(t *testing.T, g *graph) {
				v, _ := g.view("rs")
				if !v.deletingDependents || !v.beingDeleted || len(v.dependents) != 0 {
					t.Errorf("replicaset node = %+v", v)
				}
			},
		},
		{
			name: "a dependent that stops blocking frees a waiting owner",
			steps: []step{
				{"replicaset", observe(observed(rs)), work{}},
				{"pod", observe(observed(pod1, owner(rs, true))), work{}},
				{"marked", observe(deleting(observed(rs), metav1.FinalizerDeleteDependents)), toDelete("p1", "rs")},
				{"unblocked", observe(observed(pod1, owner(rs, false))), toDelete("rs")},
				{"reference removed", observe(observed(pod1)), work{}},
			},
		},
		{
			name: "a removed blocking reference frees a waiting owner",
			steps: []step{
				{"replicaset", observe(observed(rs)), work{}},
				{"pod", observe(observed(pod1, owner(rs, true))), work{}},
				{"marked", observe(deleting(observed(rs), metav1.FinalizerDeleteDependents)), toDelete("p1", "rs")},
				{"reference removed", observe(observed(pod1)), toDelete("rs")},
			},
		},
		{
			name: "orphan deletion goes to the orphan queue once",
			steps: []step{
				{"replicaset", observe(observed(rs)), work{}},
				{"pod", observe(observed(pod1, owner(rs, true))), work{}},
				{"marked", observe(deleting(observed(rs), metav1.FinalizerOrphanDependents)), work{attemptToOrphan: []types.UID{"rs"}}},
				{"marked again", observe(deleting(observed(rs), metav1.FinalizerOrphanDependents)), work{}},
			},
		},
		{
			name: "objects marked before the collector started are handled",
			steps: []step{
				{"pod", observe(observed(pod1, owner(rs, true))), toDelete("rs")},
				{"replicaset, already in foreground deletion", observe(deleting(observed(rs), metav1.FinalizerDeleteDependents)), toDelete("p1", "rs")},
			},
		},
		{
			name: "a virtual owner nobody names any more is forgotten",
			steps: []step{
				{"pod", observe(observed(pod1, owner(rs, true))), toDelete("rs")},
				{"reference removed", observe(observed(pod1)), work{}},
			},
			check: func(t *testing.T, g *graph) {
				if _, ok := g.view("rs"); ok {
					t.Error("virtual replicaset still in the graph")
				}
			},
		},
		{
			name: "a dependent naming its owner wrongly is examined when the owner shows",
			steps: []step{
				{"pod naming the replicaset by another name", observe(observed(pod1, owner(ref("apps/v1", "ReplicaSet", "ns", "other", "rs"), true))), toDelete("rs")},
				{"pod naming it right", observe(observed(pod2, owner(rs, true))), work{}},
				{"replicaset", observe(observed(rs)), toDelete("p1")},
			},
		},
		{
			name: "a dependent naming an observed owner wrongly is examined",
			steps: []step{
				{"replicaset", observe(observed(rs)), work{}},
				{"pod in another namespace", observe(observed(ref("v1", "Pod", "other", "p", "p3"), owner(rs, true))), toDelete("p3")},
				{"pod naming another kind", observe(observed(pod1, owner(ref("apps/v1", "StatefulSet", "ns", "web-1", "rs"), true))), toDelete("p1")},
				{"pod naming it right", observe(observed(pod2, owner(rs, true))), work{}},
			},
		},
		{
			name: "a reference through another version names the same owner",
			steps: []step{
				{"pod", observe(observed(pod1, owner(ref("apps/v1beta2", "ReplicaSet", "ns", "web-1", "rs"), true))), toDelete("rs")},
				{"replicaset", observe(observed(rs)), work{}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph()
			for _, s := range tt.steps {
				if got := s.do(g); !sameWork(got, s.want) {
					t.Errorf("%s: work = %+v, want %+v", s.what, got, s.want)
				}
			}
			if tt.check != nil {
				tt.check(t, g)
			}
		})
	}
}

func sameWork(a, b work) bool {
	return slices.Equal(a.attemptToDelete, b.attemptToDelete) && slices.Equal(a.attemptToOrphan, b.attemptToOrphan)
}

func TestGraphView(t *testing.T) {
	g := newGraph()
	g.observe(observed(rs))
	g.observe(observed(pod2, owner(rs, false)))
	g.observe(deleting(observed(pod1, owner(rs, true)), metav1.FinalizerDeleteDependents))
	v, ok := g.view("rs")
	if !ok {
		t.Fatal("no node")
	}
	want := []dependentView{{ref: pod1, blocking: true, deletingDependents: true}, {ref: pod2}}
	if !slices.Equal(v.dependents, want) {
		t.Errorf("dependents = %+v, want %+v", v.dependents, want)
	}
}
