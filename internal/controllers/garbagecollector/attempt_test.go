package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// discovered is what discovery answers in these tests.
var discovered = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: allVerbs},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: allVerbs},
		{Name: "events", Kind: "Event", Namespaced: true, Verbs: allVerbs},
		{Name: "nodes", Kind: "Node", Verbs: allVerbs},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: allVerbs},
		{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Verbs: allVerbs},
	}},
}

func TestResources(t *testing.T) {
	r := newResources(discovered)
	var watched []string
	for _, res := range r.watched() {
		watched = append(watched, res.gvr.String())
	}
	want := []string{"/v1, Resource=configmaps", "/v1, Resource=nodes", "/v1, Resource=pods", "apps/v1, Resource=deployments", "apps/v1, Resource=replicasets"}
	if !slices.Equal(watched, want) {
		t.Errorf("watched = %q, want %q", watched, want)
	}
	res, err := r.lookup(ref("apps/v1beta2", "ReplicaSet", "ns", "x", "u"))
	if err != nil || res.gvr.Version != "v1" || !res.namespaced {
		t.Errorf("lookup through another version = %+v, %v", res, err)
	}
	if _, err := r.lookup(ref("example.com/v1", "Widget", "ns", "x", "u")); err == nil {
		t.Error("lookup of an unknown kind succeeded")
	}
	if res, _ := r.lookup(ref("v1", "Binding", "ns", "x", "u")); res.watched {
		t.Error("a resource that cannot be listed is watched")
	}
}

// live is an object as the API server holds it.
func live(r objectRef, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: r.APIVersion, Kind: r.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace, Name: r.Name, UID: r.UID, ResourceVersion: "7", OwnerReferences: owners,
		},
	}
}

func withFinalizers(o *metav1.PartialObjectMetadata, finalizers ...string) *metav1.PartialObjectMetadata {
	o.Finalizers = finalizers
	return o
}

func beingDeleted(o *metav1.PartialObjectMetadata, finalizers ...string) *metav1.PartialObjectMetadata {
	now := metav1.Now()
	o.DeletionTimestamp, o.Finalizers = &now, finalizers
	return o
}

// keys records what the collector queued.
type keys []string

func (k *keys) EnqueueKey(key string) { *k = append(*k, key) }

// fixture is a collector whose graph has seen observed and whose API holds liveObjects. It
// records the collector's writes and what it queued.
type fixture struct {
	c                *Controller
	client           *metadatafake.FakeMetadataClient
	deletes, orphans keys
}

func newFixture(t *testing.T, observed []*metav1.PartialObjectMetadata, liveObjects ...*metav1.PartialObjectMetadata) *fixture {
	t.Helper()
	objs := make([]runtime.Object, len(liveObjects))
	for i, o := range liveObjects {
		objs[i] = o
	}
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &fixture{client: metadatafake.NewSimpleMetadataClient(scheme, objs...)}
	f.c = New(nil, f.client)
	f.c.resources = newResources(discovered)
	f.c.deleteQueue, f.c.orphanQueue = &f.deletes, &f.orphans
	for _, o := range observed {
		f.c.graph.observe(observation{
			ref:    objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID},
			owners: o.OwnerReferences, deleting: o.DeletionTimestamp != nil, finalizers: o.Finalizers,
		})
	}
	return f
}

// writes describes the collector's writes, in order: deletes with their policy and
// preconditions, patches with their body.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a := a.(type) {
		case clienttesting.DeleteActionImpl:
			o := a.DeleteOptions
			s := fmt.Sprintf("delete %s %s/%s %s", a.Resource.Resource, a.Namespace, a.Name, *o.PropagationPolicy)
			if p := o.Preconditions; p != nil {
				s += fmt.Sprintf(" if uid=%s rv=%s", *p.UID, *p.ResourceVersion)
			}
			out = append(out, s)
		case clienttesting.PatchActionImpl:
			out = append(out, fmt.Sprintf("patch %s %s/%s %s", a.Resource.Resource, a.Namespace, a.Name, a.Patch))
		}
	}
	return out
}

func TestAttemptToDelete(t *testing.T) {
	deployLive := live(deploy)
	rsLive := live(rs, owner(deploy, true))
	pod1Live := live(pod1, owner(rs, true))
	pod2Live := live(pod2, owner(rs, true))
	cm := ref("v1", "ConfigMap", "ns", "shared", "cm")
	ownerA := ref("apps/v1", "Deployment", "ns", "a", "a")
	ownerB := ref("apps/v1", "Deployment", "ns", "b", "b")

	tests := []struct {
		name         string
		observed     []*metav1.PartialObjectMetadata
		live         []*metav1.PartialObjectMetadata
		key          types.UID
		wantWrites   []string
		wantEnqueued []string
		wantErr      bool
	}{
		{
			name:       "a dependent whose only owner is gone is deleted in the background",
			observed:   []*metav1.PartialObjectMetadata{rsLive, pod1Live},
			live:       []*metav1.PartialObjectMetadata{rsLive},
			key:        "rs",
			wantWrites: []string{"delete replicasets ns/web-1 Background if uid=rs rv=7"},
		},
		{
			name:     "an owner that exists keeps its dependent",
			observed: []*metav1.PartialObjectMetadata{deployLive, rsLive},
			live:     []*metav1.PartialObjectMetadata{deployLive, rsLive},
			key:      "rs",
		},
		{
			name:       "an owner recreated under the same name is not the owner",
			observed:   []*metav1.PartialObjectMetadata{rsLive},
			live:       []*metav1.PartialObjectMetadata{live(ref("apps/v1", "Deployment", "ns", "web", "d2")), rsLive},
			key:        "rs",
			wantWrites: []string{"delete replicasets ns/web-1 Background if uid=rs rv=7"},
		},
		{
			name:     "references to absent owners are removed while one owner stands",
			observed: []*metav1.PartialObjectMetadata{live(cm, owner(ownerA, false), owner(ownerB, false))},
			live:     []*metav1.PartialObjectMetadata{live(cm, owner(ownerA, false), owner(ownerB, false)), live(ownerB)},
			key:      "cm",
			wantWrites: []string{
				`patch configmaps ns/shared {"metadata":{"resourceVersion":"7","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"b","uid":"b","controller":true}]}}`,
			},
		},
		{
			name:       "a dependent with dependents of its own goes in the foreground when its owner waits",
			observed:   []*metav1.PartialObjectMetadata{beingDeleted(live(deploy), metav1.FinalizerDeleteDependents), rsLive, pod1Live},
			live:       []*metav1.PartialObjectMetadata{beingDeleted(live(deploy), metav1.FinalizerDeleteDependents), rsLive, pod1Live},
			key:        "rs",
			wantWrites: []string{"delete replicasets ns/web-1 Foreground if uid=rs rv=7"},
		},
		{
			name: "a foreground cycle is broken by unblocking the owner references",
			observed: []*metav1.PartialObjectMetadata{
				beingDeleted(live(deploy), metav1.FinalizerDeleteDependents), rsLive,
				beingDeleted(live(pod1, owner(rs, true)), metav1.FinalizerDeleteDependents),
			},
			live: []*metav1.PartialObjectMetadata{beingDeleted(live(deploy), metav1.FinalizerDeleteDependents), rsLive},
			key:  "rs",
			wantWrites: []string{
				`patch replicasets ns/web-1 {"metadata":{"resourceVersion":"7","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d","controller":true,"blockOwnerDeletion":false}]}}`,
				"delete replicasets ns/web-1 Foreground if uid=rs rv=7",
			},
		},
		{
			name:       "a dependent without dependents goes in the background when its owner waits",
			observed:   []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents), pod1Live},
			live:       []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents), pod1Live},
			key:        "p1",
			wantWrites: []string{"delete pods ns/web-1-a Background if uid=p1 rv=7"},
		},
		{
			name:       "an orphan finalizer already on the dependent is honoured",
			observed:   []*metav1.PartialObjectMetadata{rsLive},
			live:       []*metav1.PartialObjectMetadata{withFinalizers(live(rs, owner(deploy, true)), metav1.FinalizerOrphanDependents)},
			key:        "rs",
			wantWrites: []string{"delete replicasets ns/web-1 Orphan if uid=rs rv=7"},
		},
		{
			name:         "a waiting owner with blocking dependents deletes them first",
			observed:     []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents), pod1Live, pod2Live},
			live:         []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents), pod1Live, pod2Live},
			key:          "rs",
			wantEnqueued: []string{"p1", "p2"},
		},
		{
			name:       "a waiting owner without blocking dependents loses its finalizer",
			observed:   []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents, "example.com/keep"), live(pod1, owner(rs, false))},
			live:       []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents, "example.com/keep"), live(pod1, owner(rs, false))},
			key:        "rs",
			wantWrites: []string{`patch replicasets ns/web-1 {"metadata":{"resourceVersion":"7","finalizers":["example.com/keep"]}}`},
		},
		{
			name:       "the last finalizer is removed with null",
			observed:   []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents)},
			live:       []*metav1.PartialObjectMetadata{beingDeleted(live(rs), metav1.FinalizerDeleteDependents)},
			key:        "rs",
			wantWrites: []string{`patch replicasets ns/web-1 {"metadata":{"resourceVersion":"7","finalizers":null}}`},
		},
		{
			name:         "a virtual owner that does not exist releases its dependents",
			observed:     []*metav1.PartialObjectMetadata{pod1Live, pod2Live},
			live:         []*metav1.PartialObjectMetadata{pod1Live, pod2Live},
			key:          "rs",
			wantEnqueued: []string{"p1", "p2"},
		},
		{
			name:     "a virtual owner that exists is looked at again until observed",
			observed: []*metav1.PartialObjectMetadata{pod1Live},
			live:     []*metav1.PartialObjectMetadata{live(rs), pod1Live},
			key:      "rs",
			wantErr:  true,
		},
		{
			name:     "an object being deleted in the background is left to finish",
			observed: []*metav1.PartialObjectMetadata{beingDeleted(live(pod1, owner(rs, true)))},
			live:     []*metav1.PartialObjectMetadata{beingDeleted(live(pod1, owner(rs, true)))},
			key:      "p1",
		},
		{
			name:     "an owner of an unknown kind is retried",
			observed: []*metav1.PartialObjectMetadata{live(cm, owner(ref("example.com/v1", "Widget", "ns", "w", "w"), false))},
			live:     []*metav1.PartialObjectMetadata{live(cm, owner(ref("example.com/v1", "Widget", "ns", "w", "w"), false))},
			key:      "cm",
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.observed, tt.live...)
			f.deletes = nil
			err := f.c.attemptToDelete(context.Background(), string(tt.key))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := f.writes(); !slices.Equal(got, tt.wantWrites) {
				t.Errorf("writes:\n%q\nwant:\n%q", got, tt.wantWrites)
			}
			if !slices.Equal(f.deletes, tt.wantEnqueued) {
				t.Errorf("enqueued %q, want %q", f.deletes, tt.wantEnqueued)
			}
		})
	}
}

func TestAttemptToOrphan(t *testing.T) {
	rsOrphaning := beingDeleted(live(rs), metav1.FinalizerOrphanDependents)
	pod1Live := live(pod1, owner(rs, true))
	pod2Live := live(pod2, owner(deploy, false), owner(rs, true))
	f := newFixture(t, []*metav1.PartialObjectMetadata{rsOrphaning, pod1Live, pod2Live}, rsOrphaning, pod1Live, pod2Live)
	if err := f.c.attemptToOrphan(context.Background(), "rs"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`patch pods ns/web-1-a {"metadata":{"resourceVersion":"7","ownerReferences":null}}`,
		`patch pods ns/web-1-b {"metadata":{"resourceVersion":"7","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d","controller":true}]}}`,
		`patch replicasets ns/web-1 {"metadata":{"resourceVersion":"7","finalizers":null}}`,
	}
	if got := f.writes(); !slices.Equal(got, want) {
		t.Errorf("writes:\n%q\nwant:\n%q", got, want)
	}
}
