package disruption

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func budget(minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "budget", Namespace: "ns", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable:   minAvailable,
			MaxUnavailable: maxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func deployment(replicas int32) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		// The ReplicaSet's own replicas differ, to tell whose scale was read.
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas + 10)}}
	return d, rs
}

// pod builds a pod labelled app=web, Ready or not, controlled by owner (nil for none).
func pod(name string, ready bool, owner metav1.Object, kind string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
		Labels: map[string]string{"app": "web"}}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if owner != nil {
		gv := appsv1.SchemeGroupVersion
		if kind == "ReplicationController" {
			gv = corev1.SchemeGroupVersion
		}
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, gv.WithKind(kind))}
	}
	return p
}

// sync runs one reconcile of ns/budget over a fake clientset holding objects and answers the
// budget as stored afterwards, the reconcile's error and the events recorded.
func sync(t *testing.T, objects ...runtime.Object) (*policyv1.PodDisruptionBudget, error, []string) {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	c := New(client, factory, recorder)
	c.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	err := c.Reconcile(ctx, "ns/budget")
	pdb, getErr := client.PolicyV1().PodDisruptionBudgets("ns").Get(ctx, "budget", metav1.GetOptions{})
	if getErr != nil {
		t.Fatal(getErr)
	}
	close(recorder.Events)
	var events []string
	for e := range recorder.Events {
		events = append(events, e)
	}
	return pdb, err, events
}

type counts struct{ expected, desired, healthy, allowed int32 }

func countsOf(pdb *policyv1.PodDisruptionBudget) counts {
	s := pdb.Status
	return counts{s.ExpectedPods, s.DesiredHealthy, s.CurrentHealthy, s.DisruptionsAllowed}
}

func TestStatus(t *testing.T) {
	d, rs := deployment(4)
	ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", UID: "ss-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)}}
	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns", UID: "rc-uid"},
		Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3)}}
	bare := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "ns", UID: "bare-uid"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](5)}}
	other := pod("other", true, nil, "")
	other.Labels = map[string]string{"app": "else"}

	for _, tc := range []struct {
		name       string
		min, max   *intstr.IntOrString
		objects    []runtime.Object
		want       counts
		wantReason string
	}{{
		name: "integer minAvailable counts matching pods",
		min:  ptr.To(intstr.FromInt32(2)),
		objects: []runtime.Object{pod("a", true, nil, ""), pod("b", true, nil, ""), pod("c", true, nil, ""),
			pod("d", false, nil, ""), other},
		want: counts{4, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name:    "integer minAvailable not met",
		min:     ptr.To(intstr.FromInt32(2)),
		objects: []runtime.Object{pod("a", true, nil, ""), pod("b", false, nil, "")},
		want:    counts{2, 2, 1, 0}, wantReason: policyv1.InsufficientPodsReason,
	}, {
		name: "percentage minAvailable rounds up over the Deployment's replicas",
		min:  ptr.To(intstr.FromString("50%")),
		objects: []runtime.Object{d, rs, pod("a", true, rs, "ReplicaSet"), pod("b", true, rs, "ReplicaSet"),
			pod("c", true, rs, "ReplicaSet")},
		// 50% of 4 is 2.
		want: counts{4, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "percentage minAvailable sums distinct controllers",
		min:  ptr.To(intstr.FromString("30%")),
		objects: []runtime.Object{ss, rc, bare, pod("a", true, ss, "StatefulSet"), pod("b", true, ss, "StatefulSet"),
			pod("c", true, rc, "ReplicationController"), pod("d", true, bare, "ReplicaSet")},
		// 30% of 2+3+5 = 3.
		want: counts{10, 3, 4, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name:    "integer maxUnavailable",
		max:     ptr.To(intstr.FromInt32(1)),
		objects: []runtime.Object{ss, pod("a", true, ss, "StatefulSet"), pod("b", true, ss, "StatefulSet")},
		want:    counts{2, 1, 2, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "percentage maxUnavailable rounds up",
		max:  ptr.To(intstr.FromString("30%")),
		objects: []runtime.Object{rc, pod("a", true, rc, "ReplicationController"), pod("b", true, rc, "ReplicationController"),
			pod("c", false, rc, "ReplicationController")},
		// 30% of 3 rounds up to 1 unavailable, so 2 must stay healthy.
		want: counts{3, 2, 2, 0}, wantReason: policyv1.InsufficientPodsReason,
	}, {
		name:    "no pods allows nothing",
		max:     ptr.To(intstr.FromInt32(1)),
		objects: []runtime.Object{other},
		want:    counts{0, 0, 0, 0}, wantReason: policyv1.InsufficientPodsReason,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pdb, err, _ := sync(t, append(tc.objects, budget(tc.min, tc.max))...)
			if err != nil {
				t.Fatal(err)
			}
			if got := countsOf(pdb); got != tc.want {
				t.Errorf("status = %+v, want %+v", got, tc.want)
			}
			if pdb.Status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", pdb.Status.ObservedGeneration)
			}
			cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
			if cond == nil || cond.Reason != tc.wantReason || (cond.Status == metav1.ConditionTrue) != (tc.want.allowed > 0) {
				t.Errorf("condition = %+v, want reason %s", cond, tc.wantReason)
			}
		})
	}
}

func TestEmptySelectorMatchesAllPods(t *testing.T) {
	pdb := budget(ptr.To(intstr.FromInt32(1)), nil)
	pdb.Spec.Selector = &metav1.LabelSelector{}
	other := pod("other", true, nil, "")
	other.Labels = nil
	got, err, _ := sync(t, pdb, pod("a", true, nil, ""), other)
	if err != nil {
		t.Fatal(err)
	}
	if c := countsOf(got); c != (counts{2, 1, 2, 1}) {
		t.Errorf("status = %+v, want 2 expected, 1 desired, 2 healthy, 1 allowed", c)
	}
}

func TestDisruptedPods(t *testing.T) {
	pdb := budget(ptr.To(intstr.FromInt32(1)), nil)
	pdb.Status.DisruptedPods = map[string]metav1.Time{
		"fresh":   metav1.NewTime(now.Add(-30 * time.Second)),
		"stale":   metav1.NewTime(now.Add(-DeletionTimeout - time.Second)),
		"deleted": metav1.NewTime(now.Add(-10 * time.Second)),
		"gone":    metav1.NewTime(now.Add(-10 * time.Second)),
	}
	deleting := pod("deleted", true, nil, "")
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	got, err, events := sync(t, pdb, pod("fresh", true, nil, ""), pod("stale", true, nil, ""), deleting, pod("a", true, nil, ""))

	if err == nil || err.Error() != controller.RequeueAfter(90*time.Second).Error() {
		t.Errorf("reconcile = %v, want a requeue after 1m30s, when the fresh entry expires", err)
	}
	if len(got.Status.DisruptedPods) != 1 || !got.Status.DisruptedPods["fresh"].Time.Equal(now.Add(-30*time.Second)) {
		t.Errorf("disruptedPods = %v, want only fresh", got.Status.DisruptedPods)
	}
	// a and stale count; fresh is about to go and deleted is going.
	if c := countsOf(got); c != (counts{4, 1, 2, 1}) {
		t.Errorf("status = %+v, want 4 expected, 1 desired, 2 healthy, 1 allowed", c)
	}
	want := "Warning NotDeleted Pod was expected by PDB ns/budget to be deleted but it wasn't"
	if len(events) != 1 || events[0] != want {
		t.Errorf("events = %q, want %q", events, want)
	}
}

func TestUnmanagedPods(t *testing.T) {
	_, rs := deployment(2)
	bare := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "ns", UID: "bare-uid"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}
	t.Run("pod without controller is left out with an event", func(t *testing.T) {
		got, err, events := sync(t, budget(nil, ptr.To(intstr.FromInt32(1))), bare,
			pod("a", true, bare, "ReplicaSet"), pod("b", true, bare, "ReplicaSet"), pod("c", true, nil, ""))
		if err != nil {
			t.Fatal(err)
		}
		// Healthy counts every Ready pod, expected only the controllers' replicas.
		if c := countsOf(got); c != (counts{2, 1, 3, 2}) {
			t.Errorf("status = %+v, want 2 expected, 1 desired, 3 healthy, 2 allowed", c)
		}
		if len(events) != 1 || !strings.HasPrefix(events[0], "Warning UnmanagedPods Pods selected by this PodDisruptionBudget") {
			t.Errorf("events = %q, want one UnmanagedPods warning", events)
		}
	})
	t.Run("pod whose controller has no scale fails safe", func(t *testing.T) {
		job := pod("a", true, nil, "")
		job.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "once", UID: "job-uid",
			Controller: ptr.To(true)}}
		got, err, _ := sync(t, budget(nil, ptr.To(intstr.FromInt32(1))), job)
		if err != nil {
			t.Fatal(err)
		}
		cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
		if cond == nil || cond.Reason != policyv1.SyncFailedReason || cond.Message != "jobs.batch does not implement the scale subresource" {
			t.Errorf("condition = %+v, want SyncFailed: jobs.batch does not implement the scale subresource", cond)
		}
	})
	t.Run("pod whose controller is missing fails safe", func(t *testing.T) {
		stale := budget(ptr.To(intstr.FromString("50%")), nil)
		stale.Status.DisruptionsAllowed = 2
		// The Deployment of the ReplicaSet is not in the cache.
		got, err, events := sync(t, stale, rs, pod("a", true, rs, "ReplicaSet"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.DisruptionsAllowed != 0 {
			t.Errorf("disruptionsAllowed = %d, want 0", got.Status.DisruptionsAllowed)
		}
		cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != policyv1.SyncFailedReason ||
			cond.Message != `found no controllers for pod "a"` {
			t.Errorf("condition = %+v, want False SyncFailed", cond)
		}
		want := `Warning CalculateExpectedPodCountFailed Failed to calculate the number of expected pods: found no controllers for pod "a"`
		if len(events) != 1 || events[0] != want {
			t.Errorf("events = %q, want %q", events, want)
		}
	})
}

func TestNoWriteWhenUnchanged(t *testing.T) {
	client := fake.NewClientset(budget(ptr.To(intstr.FromInt32(1)), nil), pod("a", true, nil, ""), pod("b", true, nil, ""))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, record.NewFakeRecorder(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	if err := c.Reconcile(ctx, "ns/budget"); err != nil {
		t.Fatal(err)
	}
	written, err := client.PolicyV1().PodDisruptionBudgets("ns").Get(ctx, "budget", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Sync again over the written budget, as the informer would deliver it.
	client.ClearActions()
	if err := c.sync(ctx, written); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("second sync wrote %s/%s", a.GetResource().Resource, a.GetSubresource())
		}
	}
}

func TestResetStaleDisruptionTarget(t *testing.T) {
	condition := func(reason string, age time.Duration) corev1.PodCondition {
		return corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reason,
			Message: "preempted", LastTransitionTime: metav1.NewTime(now.Add(-age))}
	}
	stale := pod("stale", true, nil, "")
	stale.Status.Conditions = append(stale.Status.Conditions, condition("PreemptionByScheduler", 3*time.Minute))
	fresh := pod("fresh", true, nil, "")
	fresh.Status.Conditions = append(fresh.Status.Conditions, condition("PreemptionByScheduler", 30*time.Second))
	kubelet := pod("kubelet", true, nil, "")
	kubelet.Status.Conditions = append(kubelet.Status.Conditions, condition(corev1.PodReasonTerminationByKubelet, time.Hour))
	deleting := pod("deleting", true, nil, "")
	deleting.Status.Conditions = append(deleting.Status.Conditions, condition("PreemptionByScheduler", time.Hour))
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(now))

	client := fake.NewClientset(stale, fresh, kubelet, deleting)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, record.NewFakeRecorder(100))
	c.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	for name, want := range map[string]string{
		"stale":    "<nil>",
		"fresh":    controller.RequeueAfter(90 * time.Second).Error(),
		"kubelet":  "<nil>",
		"deleting": "<nil>",
	} {
		if err := c.resetStale(ctx, "ns/"+name); fmt.Sprint(err) != want {
			t.Errorf("reset %s = %v, want %s", name, err, want)
		}
	}
	for name, want := range map[string]corev1.ConditionStatus{
		"stale": corev1.ConditionFalse, "fresh": corev1.ConditionTrue, "kubelet": corev1.ConditionTrue, "deleting": corev1.ConditionTrue,
	} {
		got, err := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type != corev1.DisruptionTarget {
				continue
			}
			if cond.Status != want {
				t.Errorf("%s: DisruptionTarget %s, want %s", name, cond.Status, want)
			}
			if want == corev1.ConditionFalse && (cond.Reason != "" || !cond.LastTransitionTime.Time.Equal(now)) {
				t.Errorf("%s: reset condition = %+v, want no reason and a transition now", name, cond)
			}
		}
	}
}
