package nodelifecycle

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func taintStrings(taints []corev1.Taint) []string {
	var out []string
	for _, t := range taints {
		out = append(out, t.ToString())
	}
	slices.Sort(out)
	return out
}

func readyNode(status corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.NewTime(epoch)}}}}
}

func TestWantedTaints(t *testing.T) {
	pressured := readyNode(corev1.ConditionTrue)
	pressured.Status.Conditions = append(pressured.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue})
	cordoned := readyNode(corev1.ConditionTrue)
	cordoned.Spec.Unschedulable = true
	for _, tt := range []struct {
		name string
		node *corev1.Node
		want []string
	}{
		{"ready", readyNode(corev1.ConditionTrue), nil},
		{"not ready", readyNode(corev1.ConditionFalse), []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}},
		{"unknown", readyNode(corev1.ConditionUnknown), []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}},
		{"disk pressure", pressured, []string{"node.kubernetes.io/disk-pressure:NoSchedule"}},
		{"cordoned", cordoned, []string{"node.kubernetes.io/unschedulable:NoSchedule"}},
	} {
		if got := taintStrings(wantedTaints(tt.node)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReconcileTaints(t *testing.T) {
	then, now := metav1.NewTime(epoch), metav1.NewTime(epoch.Add(time.Minute))
	have := []corev1.Taint{
		{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &then},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &then},
	}
	want := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}}
	got, changed := reconcileTaints(have, want, now)
	if !changed {
		t.Fatal("reported no change")
	}
	if s := taintStrings(got); !slices.Equal(s, []string{"dedicated=db:NoSchedule", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}) {
		t.Errorf("taints %v: want the user's taint kept, not-ready removed, unreachable kept and completed", s)
	}
	for _, tt := range got {
		if tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoExecute && !tt.TimeAdded.Equal(&then) {
			t.Errorf("kept taint's timeAdded %v, want the original %v", tt.TimeAdded, then)
		}
	}
	if _, changed := reconcileTaints(got, want, now); changed {
		t.Error("reconciling again reported a change")
	}
}

func TestEvictionTime(t *testing.T) {
	added := metav1.NewTime(epoch)
	now := epoch.Add(10 * time.Second)
	unreachable := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}}
	tol := func(key string, seconds *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
	}
	for _, tt := range []struct {
		name string
		tols []corev1.Toleration
		at   time.Time
		ok   bool
	}{
		{"no toleration: now", nil, now, true},
		{"other key: now", []corev1.Toleration{tol(corev1.TaintNodeNotReady, ptr.To[int64](300))}, now, true},
		{"300 s from the taint", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, epoch.Add(300 * time.Second), true},
		{"the shortest matching", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](300)), tol("", ptr.To[int64](5))}, epoch.Add(5 * time.Second), true},
		{"forever", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, time.Time{}, false},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tols}}
		at, ok := evictionTime(pod, unreachable, now)
		if ok != tt.ok || !at.Equal(tt.at) {
			t.Errorf("%s: %v %v, want %v %v", tt.name, at, ok, tt.at, tt.ok)
		}
	}
}

// testController returns a synced controller over objs with a fake clock at epoch.
func testController(t *testing.T, grace time.Duration, objs ...runtime.Object) (*Controller, *fake.Clientset, *clocktesting.FakeClock) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, &events.FakeRecorder{}, grace)
	clk := clocktesting.NewFakeClock(epoch)
	c.clock = clk
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	return c, client, clk
}

func TestSilentNodeBecomesUnknown(t *testing.T) {
	node := readyNode(corev1.ConditionTrue)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: leaseNamespace},
		Spec: coordinationv1.LeaseSpec{RenewTime: ptr.To(metav1.NewMicroTime(epoch))}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	c, client, clk := testController(t, 40*time.Second, node, lease, pod)
	ctx := context.Background()

	// First look: the node gets a full grace period from now.
	err := c.reconcileNode(ctx, "n1")
	if !isRequeue(err) {
		t.Fatalf("first reconcile: %v, want a requeue", err)
	}
	clk.Step(39 * time.Second)
	if err := c.reconcileNode(ctx, "n1"); !isRequeue(err) {
		t.Fatalf("within the grace period: %v, want a requeue", err)
	}
	if got, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); readyStatus(got) != corev1.ConditionTrue {
		t.Fatalf("node Ready=%s within the grace period", readyStatus(got))
	}

	clk.Step(2 * time.Second)
	if err := c.reconcileNode(ctx, "n1"); err != nil {
		t.Fatalf("after the grace period: %v", err)
	}
	got, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := condition(got, corev1.NodeReady)
	if ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" || !ready.LastHeartbeatTime.Time.Equal(epoch) {
		t.Errorf("Ready condition %+v: want Unknown/NodeStatusUnknown with the last heartbeat kept", ready)
	}
	if s := taintStrings(got.Spec.Taints); !slices.Equal(s, []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}) {
		t.Errorf("taints %v, want unreachable NoExecute and NoSchedule", s)
	}
	p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("pod on the lost node: Ready=%s, want False", p.Status.Conditions[0].Status)
	}
}

func TestEvictsUntoleratingPods(t *testing.T) {
	added := metav1.NewTime(epoch)
	node := readyNode(corev1.ConditionUnknown)
	node.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}}
	pod := func(name string, seconds *int64) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if seconds != nil {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}}
		}
		return p
	}
	c, client, clk := testController(t, 0, node, pod("intolerant", nil), pod("patient", ptr.To[int64](60)))
	ctx := context.Background()
	clk.Step(30 * time.Second)
	err := c.reconcileEvictions(ctx, "n1")
	if !isRequeue(err) {
		t.Fatalf("reconcile: %v, want a requeue for the patient pod", err)
	}
	var deleted []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			deleted = append(deleted, a.(interface{ GetName() string }).GetName())
		}
	}
	if !slices.Equal(deleted, []string{"intolerant"}) {
		t.Errorf("deleted %v, want only the pod without a toleration", deleted)
	}
}

func isRequeue(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "requeue after")
}
