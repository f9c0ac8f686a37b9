package podgc

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func TestCollect(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(name, node string, phase corev1.PodPhase, age int) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + k8stypes.UID(name),
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	deleting := pod("leaving", "down", corev1.PodRunning, 0)
	deleting.DeletionTimestamp = &metav1.Time{Time: epoch}
	objs := []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "up"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "down"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: taintOutOfService, Effect: corev1.TaintEffectNoExecute}}}},
		pod("running", "up", corev1.PodRunning, 0),
		pod("orphan", "gone", corev1.PodRunning, 0),
		pod("pending", "", corev1.PodPending, 0),
		deleting,
		pod("done-old", "up", corev1.PodSucceeded, 1),
		pod("done-new", "up", corev1.PodFailed, 2),
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory)
	c.threshold = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	if err := c.collect(ctx); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range client.Actions() {
		if d, ok := a.(clienttesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			deleted = append(deleted, d.GetName())
		}
	}
	slices.Sort(deleted)
	if want := []string{"done-old", "leaving", "orphan"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v (the orphan, the pod leaving an out-of-service node, the oldest terminated pod)", deleted, want)
	}
}
