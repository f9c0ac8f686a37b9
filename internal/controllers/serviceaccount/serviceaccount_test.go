package serviceaccount

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
	if phase == corev1.NamespaceTerminating {
		now := metav1.Now()
		ns.DeletionTimestamp = &now
	}
	return ns
}

func account(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// writes describes the client's writes and live reads, in order.
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := fmt.Sprintf("%s %s %s", a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		if c, ok := a.(clienttesting.CreateAction); ok {
			m := c.GetObject().(metav1.Object)
			s += "/" + m.GetName()
		}
		out = append(out, s)
	}
	return out
}

func TestReconcile(t *testing.T) {
	forbidden := func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("serviceaccounts"), Name, fmt.Errorf("namespace is being terminated"))
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		// create answers creates instead of the fake's store.
		create clienttesting.ReactionFunc
		// liveNamespace is what a live read of the namespace answers, when the informer is
		// behind.
		liveNamespace *corev1.Namespace
		ns            string
		want          []string
		wantErr       bool
	}{
		{name: "created in an active namespace", objects: []runtime.Object{namespace("a", corev1.NamespaceActive)}, ns: "a",
			want: []string{"create serviceaccounts a/default"}},
		{name: "present", objects: []runtime.Object{namespace("a", corev1.NamespaceActive), account("a", "default")}, ns: "a"},
		{name: "others do not count", objects: []runtime.Object{namespace("a", corev1.NamespaceActive), account("a", "builder"), account("b", "default")}, ns: "a",
			want: []string{"create serviceaccounts a/default"}},
		{name: "not in a terminating namespace", objects: []runtime.Object{namespace("a", corev1.NamespaceTerminating)}, ns: "a"},
		{name: "not in a missing namespace", ns: "a"},
		{name: "created meanwhile", objects: []runtime.Object{namespace("a", corev1.NamespaceActive)}, ns: "a",
			create: func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewAlreadyExists(corev1.Resource("serviceaccounts"), Name)
			},
			want: []string{"create serviceaccounts a/default"}},
		{name: "refused because the namespace is going", objects: []runtime.Object{namespace("a", corev1.NamespaceActive)}, ns: "a",
			create: forbidden, liveNamespace: namespace("a", corev1.NamespaceTerminating),
			want: []string{"create serviceaccounts a/default", "get namespaces "}},
		{name: "refused for another reason", objects: []runtime.Object{namespace("a", corev1.NamespaceActive)}, ns: "a",
			create: forbidden, want: []string{"create serviceaccounts a/default", "get namespaces "}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				t.Fatal("caches did not sync")
			}
			if tt.create != nil {
				client.PrependReactor("create", "serviceaccounts", tt.create)
			}
			if tt.liveNamespace != nil {
				client.PrependReactor("get", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, tt.liveNamespace, nil
				})
			}
			client.ClearActions()
			err := c.Reconcile(ctx, tt.ns)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := writes(client); !slices.Equal(got, tt.want) {
				t.Errorf("actions %q, want %q", got, tt.want)
			}
		})
	}
}
