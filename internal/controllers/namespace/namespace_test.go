package namespace

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

var discovered = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: allVerbs},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "update"}},
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: allVerbs},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
	}},
	// A resource without deletecollection is deleted item by item.
	{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: metav1.Verbs{"delete", "get", "list"}},
	}},
}

func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	now := metav1.Now()
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &now},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func object(apiVersion, kind, ns, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers},
	}
}

// fixture is a controller over fake clients whose metadata client deletes collections as the
// API server does: objects with finalizers are only marked.
type fixture struct {
	c      *Controller
	client *fake.Clientset
	meta   *metadatafake.FakeMetadataClient
}

func newFixture(t *testing.T, ns *corev1.Namespace, content ...*metav1.PartialObjectMetadata) *fixture {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := make([]runtime.Object, len(content))
	for i, o := range content {
		objs[i] = o
	}
	f := &fixture{client: fake.NewClientset(ns), meta: metadatafake.NewSimpleMetadataClient(scheme, objs...)}
	tracker := f.meta.Tracker()
	remove := func(gvr schema.GroupVersionResource, obj runtime.Object) error {
		m, _ := meta.Accessor(obj)
		if len(m.GetFinalizers()) > 0 {
			now := metav1.Now()
			m.SetDeletionTimestamp(&now)
			return tracker.Update(gvr, obj, m.GetNamespace())
		}
		return tracker.Delete(gvr, m.GetNamespace(), m.GetName())
	}
	f.meta.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		list, err := tracker.List(a.GetResource(), schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			if err := remove(a.GetResource(), item); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	f.meta.PrependReactor("delete", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		d := a.(clienttesting.DeleteAction)
		obj, err := tracker.Get(a.GetResource(), a.GetNamespace(), d.GetName())
		if err != nil {
			return true, nil, err
		}
		return true, nil, remove(a.GetResource(), obj)
	})
	f.c = New(f.client, f.meta, informers.NewSharedInformerFactory(f.client, 0))
	f.c.discover = func() ([]*metav1.APIResourceList, error) { return discovered, nil }
	return f
}

func describe(actions []clienttesting.Action) []string {
	var out []string
	for _, a := range actions {
		s := fmt.Sprintf("%s %s", a.GetVerb(), a.GetResource().Resource)
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		if a.GetNamespace() != "" {
			s += " " + a.GetNamespace()
		}
		if d, ok := a.(clienttesting.DeleteAction); ok {
			s += "/" + d.GetName()
		}
		out = append(out, s)
	}
	return out
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name      string
		ns        *corev1.Namespace
		content   []*metav1.PartialObjectMetadata
		wantErr   string
		wantTyped []string
		wantMeta  []string
		// left is what remains of content afterwards.
		left []string
	}{
		{
			name: "emptied, pods first, then finalized",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			content: []*metav1.PartialObjectMetadata{
				object("v1", "Pod", "doomed", "p"), object("v1", "ConfigMap", "doomed", "c"),
				object("example.com/v1", "Widget", "doomed", "w"), object("v1", "ConfigMap", "other", "keep"),
			},
			// The fake clientset records the finalize PUT as a create.
			wantTyped: []string{"get namespaces", "list pods doomed", "update namespaces/status", "create namespaces/finalize"},
			wantMeta: []string{
				"delete-collection pods doomed", "list pods doomed",
				"delete-collection configmaps doomed", "list configmaps doomed",
				"list widgets doomed", "delete widgets doomed/w", "list widgets doomed",
			},
			left: []string{"configmaps other/keep"},
		},
		{
			name: "pods that remain hold back the rest",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			content: []*metav1.PartialObjectMetadata{
				object("v1", "Pod", "doomed", "p", "example.com/hold"), object("v1", "ConfigMap", "doomed", "c"),
			},
			wantErr:   "requeue after 8s",
			wantTyped: []string{"get namespaces", "list pods doomed", "update namespaces/status"},
			wantMeta:  []string{"delete-collection pods doomed", "list pods doomed"},
			left:      []string{"configmaps doomed/c", "pods doomed/p"},
		},
		{
			name:      "a namespace not being deleted is left alone",
			ns:        &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			content:   []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "doomed", "c")},
			wantTyped: []string{"get namespaces"},
			left:      []string{"configmaps doomed/c"},
		},
		{
			name:      "a namespace already finalized is left to the others",
			ns:        terminating("doomed", "example.com/other"),
			content:   []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "doomed", "c")},
			wantTyped: []string{"get namespaces"},
			left:      []string{"configmaps doomed/c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.ns, tt.content...)
			err := f.c.Reconcile(context.Background(), "doomed")
			if got := fmt.Sprint(err); (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && got != tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := describe(f.client.Actions()); !slices.Equal(got, tt.wantTyped) {
				t.Errorf("typed client actions %q, want %q", got, tt.wantTyped)
			}
			if got := describe(f.meta.Actions()); !slices.Equal(got, tt.wantMeta) {
				t.Errorf("metadata client actions %q, want %q", got, tt.wantMeta)
			}
			var left []string
			for _, r := range []string{"configmaps", "pods", "widgets"} {
				gvr := corev1.SchemeGroupVersion.WithResource(r)
				if r == "widgets" {
					gvr = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: r}
				}
				list, _ := f.meta.Tracker().List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, "")
				items, _ := meta.ExtractList(list)
				for _, item := range items {
					m, _ := meta.Accessor(item)
					left = append(left, fmt.Sprintf("%s %s/%s", r, m.GetNamespace(), m.GetName()))
				}
			}
			if !slices.Equal(left, tt.left) {
				t.Errorf("left %q, want %q", left, tt.left)
			}
		})
	}
}

func TestFinalizeKeepsOtherFinalizers(t *testing.T) {
	f := newFixture(t, terminating("doomed", "example.com/first", corev1.FinalizerKubernetes))
	if err := f.c.Reconcile(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	var got []corev1.FinalizerName
	for _, a := range f.client.Actions() {
		if a.GetSubresource() == "finalize" {
			got = a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.Namespace).Spec.Finalizers
		}
	}
	if !slices.Equal(got, []corev1.FinalizerName{"example.com/first"}) {
		t.Errorf("finalizers after finalize = %v", got)
	}
}

func TestConditions(t *testing.T) {
	f := newFixture(t, terminating("doomed", corev1.FinalizerKubernetes),
		object("v1", "Pod", "doomed", "p", "example.com/hold"), object("v1", "Pod", "doomed", "q", "example.com/hold"))
	if err := f.c.Reconcile(context.Background(), "doomed"); err == nil {
		t.Fatal("reconcile finalized a namespace with pods left")
	}
	ns, err := f.client.CoreV1().Namespaces().Get(context.Background(), "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[corev1.NamespaceConditionType]string{}
	for _, c := range ns.Status.Conditions {
		got[c.Type] = fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered: All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "False ParsedGroupVersions: All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "False ContentDeleted: All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "True SomeResourcesRemain: Some resources are remaining: pods. has 2 resource instances",
		corev1.NamespaceFinalizersRemaining:      "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances",
	}
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("%s = %q, want %q", typ, got[typ], w)
		}
	}
}
