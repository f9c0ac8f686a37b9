package daemonset

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func testNode(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
}

// daemonPod is a ready pod of ds on node with the revision hash.
func daemonPod(ds *appsv1.DaemonSet, name, node, hash string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: ktypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(epoch),
			Labels:          map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, daemonSetKind)}},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(epoch)}}},
	}
}

func fixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	var generated atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, generated.Add(1))
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory)
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

// podWrites lists the pod creates (by target node) and deletes (by name) of the client.
func podWrites(client *fake.Clientset) (created, deleted []string) {
	for _, a := range client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a := a.(type) {
		case clienttesting.CreateAction:
			p := a.GetObject().(*corev1.Pod)
			created = append(created, p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0])
		case clienttesting.DeleteAction:
			deleted = append(deleted, a.GetName())
		}
	}
	slices.Sort(created)
	slices.Sort(deleted)
	return created, deleted
}

func TestEligibility(t *testing.T) {
	ds := testDaemonSet()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "a"}
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "ok", Operator: corev1.TolerationOpExists}}
	pool := map[string]string{"pool": "a"}
	for _, tc := range []struct {
		name                      string
		node                      *corev1.Node
		shouldRun, shouldContinue bool
	}{
		{"matching", testNode("n", pool), true, true},
		{"selector mismatch", testNode("n", map[string]string{"pool": "b"}), false, false},
		{"untolerated NoSchedule: no new pod, the old stays", testNode("n", pool, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"untolerated NoExecute: out", testNode("n", pool, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}), false, false},
		{"PreferNoSchedule is ignored", testNode("n", pool, corev1.Taint{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}), true, true},
		{"tolerated by the template", testNode("n", pool, corev1.Taint{Key: "ok", Effect: corev1.TaintEffectNoExecute}), true, true},
		{"default toleration: unschedulable", testNode("n", pool, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"default toleration: not-ready", testNode("n", pool, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"network-unavailable only for hostNetwork", testNode("n", pool, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := newEligibility(ds).check(tc.node)
			if run != tc.shouldRun || cont != tc.shouldContinue {
				t.Errorf("check = %v, %v; want %v, %v", run, cont, tc.shouldRun, tc.shouldContinue)
			}
		})
	}
	hostNet := ds.DeepCopy()
	hostNet.Spec.Template.Spec.HostNetwork = true
	if run, _ := newEligibility(hostNet).check(testNode("n", pool, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule})); !run {
		t.Error("a hostNetwork DaemonSet does not tolerate network-unavailable")
	}
	affinity := ds.DeepCopy()
	affinity.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}}}}}
	if run, _ := newEligibility(affinity).check(testNode("n", pool)); run {
		t.Error("required node affinity ignored")
	}
}

func TestManage(t *testing.T) {
	ds := testDaemonSet()
	hash := controller.TemplateHash(&ds.Spec.Template, nil)
	failed := daemonPod(ds, "failed", "n2", hash, corev1.PodFailed)
	c, client := fixture(t, ds,
		testNode("n0", nil), testNode("n1", nil), testNode("n2", nil),
		testNode("tainted", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}),
		daemonPod(ds, "ok", "n1", hash, corev1.PodRunning),
		failed,
		daemonPod(ds, "evicted", "tainted", hash, corev1.PodRunning),
	)
	ctx := context.Background()
	if err := c.Reconcile(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	created, deleted := podWrites(client)
	if !slices.Equal(created, []string{"n0"}) || !slices.Equal(deleted, []string{"evicted", "failed"}) {
		t.Errorf("created on %v, deleted %v; want created on n0 and deleted evicted and failed", created, deleted)
	}
	var pod *corev1.Pod
	for _, a := range client.Actions() {
		if a, ok := a.(clienttesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			pod = a.GetObject().(*corev1.Pod)
		}
	}
	if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || pod.Labels["pod-template-generation"] != "1" || pod.GenerateName != "agent-" {
		t.Errorf("created pod %s labels %v", pod.GenerateName, pod.Labels)
	}

	// A failed pod that comes back at once is deleted again only after the backoff.
	c.exp.Forget("ns/agent")
	again := daemonPod(ds, "failed-again", "n2", hash, corev1.PodFailed)
	if _, err := client.CoreV1().Pods("ns").Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the informer to show the pod", func() bool { _, err := c.pods.Pods("ns").Get("failed-again"); return err == nil })
	client.ClearActions()
	if err := c.Reconcile(ctx, "ns/agent"); err != nil {
		t.Fatal(err)
	}
	if _, deleted := podWrites(client); slices.Contains(deleted, "failed-again") {
		t.Errorf("failed pod deleted again within its backoff: %v", deleted)
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !f(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRollingUpdate(t *testing.T) {
	ds := testDaemonSet()
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	objects := []runtime.Object{ds}
	for i := range 5 {
		node := fmt.Sprintf("n%d", i)
		objects = append(objects, testNode(node, nil), daemonPod(ds, "old-"+node, node, "old", corev1.PodRunning))
	}
	c, client := fixture(t, objects...)
	if err := c.Reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	created, deleted := podWrites(client)
	if len(created) != 0 || len(deleted) != 2 {
		t.Errorf("created on %v, deleted %v: want 2 old pods deleted (maxUnavailable 2), nothing created yet", created, deleted)
	}
}

func TestRollingUpdateSurge(t *testing.T) {
	ds := testDaemonSet()
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}
	hash := controller.TemplateHash(&ds.Spec.Template, nil)
	unready := daemonPod(ds, "new-n1", "n1", hash, corev1.PodRunning)
	unready.Status.Conditions[0].Status = corev1.ConditionFalse
	c, client := fixture(t, ds, testNode("n0", nil), testNode("n1", nil), testNode("n2", nil),
		daemonPod(ds, "old-n0", "n0", "old", corev1.PodRunning),
		daemonPod(ds, "new-n0", "n0", hash, corev1.PodRunning),
		daemonPod(ds, "old-n1", "n1", "old", corev1.PodRunning), unready,
		daemonPod(ds, "old-n2", "n2", "old", corev1.PodRunning))
	if err := c.Reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	// n0's new pod is available: its old one goes. n1 is surging (new pod not ready), which
	// uses up maxSurge 1, so n2 waits.
	created, deleted := podWrites(client)
	if len(created) != 0 || !slices.Equal(deleted, []string{"old-n0"}) {
		t.Errorf("created on %v, deleted %v: want only old-n0 deleted", created, deleted)
	}
}

func TestStatusAndHistory(t *testing.T) {
	ds := testDaemonSet()
	hash := controller.TemplateHash(&ds.Spec.Template, nil)
	notReady := daemonPod(ds, "b", "n1", hash, corev1.PodRunning)
	notReady.Status.Conditions = nil
	c, client := fixture(t, ds, testNode("n0", nil), testNode("n1", nil), testNode("n2", nil),
		testNode("other", map[string]string{"x": "y"}, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}),
		daemonPod(ds, "a", "n0", hash, corev1.PodRunning), notReady,
		daemonPod(ds, "c", "n2", "old", corev1.PodRunning),
		daemonPod(ds, "d", "other", hash, corev1.PodRunning))
	c.exp.Expect("ns/agent", 1, nil) // status only: observedGeneration stays
	if err := c.Reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2, NumberUnavailable: 1}
	if !apiequality.Semantic.DeepEqual(got.Status, want) {
		t.Errorf("status %+v, want %+v", got.Status, want)
	}
	revs, err := client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 1 || revs.Items[0].Name != "agent-"+hash || revs.Items[0].Revision != 1 ||
		revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || metav1.GetControllerOf(&revs.Items[0]).UID != ds.UID {
		t.Fatalf("revisions %+v, want agent-%s revision 1 controlled by the DaemonSet", revs.Items, hash)
	}
	// The data is what kubectl rollout undo computes from the whole DaemonSet.
	b, _ := json.Marshal(ds)
	var whole map[string]any
	if err := json.Unmarshal(b, &whole); err != nil {
		t.Fatal(err)
	}
	tmpl := whole["spec"].(map[string]any)["template"].(map[string]any)
	tmpl["$patch"] = "replace"
	kubectl, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	if string(revs.Items[0].Data.Raw) != string(kubectl) {
		t.Errorf("revision data\n%s\nwant (as kubectl computes it)\n%s", revs.Items[0].Data.Raw, kubectl)
	}
}
