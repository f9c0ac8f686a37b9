package replicaset

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func replicaSet(n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 2},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			},
		},
	}
}

// testPod builds a pod; state is a pod for the tests: "unscheduled", "pending", "notready" or "ready".
func testPod(name string, owned bool, state string, created time.Duration) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: ktypes.UID("uid-" + name),
		Labels: map[string]string{"app": "web", "tier": "front"}, CreationTimestamp: metav1.NewTime(epoch.Add(created))}}
	if owned {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(replicaSet(0), replicaSetKind)}
	}
	switch state {
	case "unscheduled":
		p.Status.Phase = corev1.PodPending
	case "pending":
		p.Spec.NodeName, p.Status.Phase = "n1", corev1.PodPending
	case "notready":
		p.Spec.NodeName, p.Status.Phase = "n1", corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	case "ready":
		p.Spec.NodeName, p.Status.Phase = "n1", corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(epoch.Add(created + time.Second))}}
	}
	return p
}

// fixture runs a ReplicaSet controller over a fake clientset holding objects.
func fixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	return fixtureFor(t, ReplicaSets, objects...)
}

// fixtureFor runs a controller for the owners kind over a fake clientset holding objects.
func fixtureFor(t *testing.T, owners func(kubernetes.Interface, informers.SharedInformerFactory) Owners, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	// The fake does not generate names.
	var generated atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, generated.Add(1))
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewFor(owners(client, factory), client, factory, record.NewFakeRecorder(100))
	c.now = func() time.Time { return epoch.Add(time.Hour) }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return c, client
}

// writes describes the client's writes in a stable order.
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case clienttesting.CreateAction:
			if a.GetVerb() != "create" {
				switch o := a.GetObject().(type) {
				case *corev1.Pod:
					s += fmt.Sprintf(" %s owners=%d", o.Name, len(o.OwnerReferences))
				case *appsv1.ReplicaSet:
					st := o.Status
					s += fmt.Sprintf(" replicas=%d labeled=%d ready=%d available=%d gen=%d", st.Replicas,
						st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas, st.ObservedGeneration)
				}
				break
			}
			p := a.GetObject().(*corev1.Pod)
			ref := metav1.GetControllerOf(p)
			s += fmt.Sprintf(" %s* owner=%s block=%v", p.GenerateName, ref.Name, *ref.BlockOwnerDeletion)
		case clienttesting.DeleteAction:
			s += " " + a.GetName()
		default:
			continue
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestReconcile(t *testing.T) {
	deleting := testPod("gone", true, "ready", 0)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(epoch))
	finished := testPod("done", true, "ready", 0)
	finished.Status.Phase = corev1.PodSucceeded
	mislabeled := testPod("partial", true, "ready", 0)
	delete(mislabeled.Labels, "tier")
	slow := replicaSet(2)
	slow.Spec.MinReadySeconds = 3570 // ready at epoch+1s: available at now; ready a minute later: not yet
	tests := []struct {
		name string
		rs   *appsv1.ReplicaSet
		pods []*corev1.Pod
		want []string
	}{
		{name: "creates missing pods", rs: replicaSet(3), want: []string{
			"create pods web-* owner=web block=true", "create pods web-* owner=web block=true", "create pods web-* owner=web block=true",
			"update replicasets/status replicas=0 labeled=0 ready=0 available=0 gen=2"}},
		{name: "steady", rs: replicaSet(1), pods: []*corev1.Pod{testPod("a", true, "ready", 0)}, want: []string{
			"update replicasets/status replicas=1 labeled=1 ready=1 available=1 gen=2"}},
		{name: "scale down: unscheduled, then not ready, then newest", rs: replicaSet(1), pods: []*corev1.Pod{
			testPod("old-ready", true, "ready", 0), testPod("new-ready", true, "ready", time.Minute),
			testPod("notready", true, "notready", 0), testPod("unscheduled", true, "unscheduled", 0)},
			want: []string{"delete pods new-ready", "delete pods notready", "delete pods unscheduled",
				"update replicasets/status replicas=4 labeled=4 ready=2 available=2 gen=2"}},
		{name: "adopts a matching orphan", rs: replicaSet(1), pods: []*corev1.Pod{testPod("orphan", false, "ready", 0)},
			want: []string{"update pods orphan owners=1", "update replicasets/status replicas=1 labeled=1 ready=1 available=1 gen=2"}},
		{name: "releases a pod that no longer matches", rs: replicaSet(0), pods: func() []*corev1.Pod {
			p := testPod("moved", true, "ready", 0)
			p.Labels = map[string]string{"app": "other"}
			return []*corev1.Pod{p}
		}(), want: []string{"update pods moved owners=0", "update replicasets/status replicas=0 labeled=0 ready=0 available=0 gen=2"}},
		{name: "pods being deleted or finished do not count", rs: replicaSet(1), pods: []*corev1.Pod{deleting, finished},
			want: []string{"create pods web-* owner=web block=true", "update replicasets/status replicas=0 labeled=0 ready=0 available=0 gen=2"}},
		{name: "fully labeled and available", rs: slow, pods: []*corev1.Pod{mislabeled, testPod("young", true, "ready", time.Minute)},
			want: []string{"update replicasets/status replicas=2 labeled=1 ready=2 available=1 gen=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := []runtime.Object{tt.rs}
			for _, p := range tt.pods {
				objects = append(objects, p)
			}
			c, client := fixture(t, objects...)
			err := c.Reconcile(context.Background(), "ns/web")
			// With minReadySeconds and pods not yet available, the answer is "look again later".
			if err != nil && !strings.HasPrefix(err.Error(), "requeue after") {
				t.Fatalf("reconcile: %v", err)
			}
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			got := writes(client)
			// Adoption reads the ReplicaSet live first.
			got = slices.DeleteFunc(got, func(s string) bool { return s == "get replicasets" })
			if !slices.Equal(got, want) {
				t.Errorf("writes\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestExpectations checks that a ReplicaSet is not resized again while its own creates are
// not yet visible: a second reconcile right after the first creates nothing, whether or not
// the informer has caught up.
func TestExpectations(t *testing.T) {
	c, client := fixture(t, replicaSet(3))
	// Hold the informer back: pods the controller creates are not observed.
	c.exp.Now = func() time.Time { return epoch }
	ctx := context.Background()
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" {
			creates++
		}
	}
	if creates != 3 {
		t.Errorf("%d creates, want 3", creates)
	}
	// Once the expectations expire, the controller trusts its cache again.
	e := controller.NewExpectations()
	e.Now = func() time.Time { return epoch }
	e.Expect("k", 2, []string{"u1"})
	if e.Satisfied("k") {
		t.Error("satisfied with everything outstanding")
	}
	e.Created("k")
	e.Created("k")
	e.Deleted("k", "u1")
	if !e.Satisfied("k") {
		t.Error("not satisfied after everything was observed")
	}
	e.Expect("k", 1, nil)
	e.Now = func() time.Time { return epoch.Add(controller.ExpectationsTTL + time.Second) }
	if !e.Satisfied("k") {
		t.Error("not satisfied after expiry")
	}
}

func TestDeletionOrder(t *testing.T) {
	pods := []*corev1.Pod{
		testPod("ready-old", true, "ready", 0),
		testPod("ready-new", true, "ready", time.Minute),
		testPod("running-notready", true, "notready", 0),
		testPod("pending", true, "pending", 0),
		testPod("unscheduled", true, "unscheduled", 0),
	}
	restarted := testPod("ready-restarted", true, "ready", 0)
	restarted.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 3}}
	pods = append(pods, restarted)
	deletionOrder(pods)
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
	}
	want := []string{"unscheduled", "pending", "running-notready", "ready-new", "ready-restarted", "ready-old"}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}
