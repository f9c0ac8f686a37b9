package integration

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// TestDisruptionController covers a budget over a Deployment: its status, kubectl's view of
// it, and the evictions it allows and refuses.
func TestDisruptionController(t *testing.T) {
	c := startCluster(t)
	sim := simulate.DefaultOptions()
	// Replacement pods take a while to become Ready, so that the budget is exhausted between
	// two evictions made one after the other.
	sim.Nodes, sim.PodStartDelay = 2, 3*time.Second
	runSimulator(t, c, sim)
	const ns = "pdb"
	createNamespace(t, c, ns)
	ctx := context.Background()

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}},
			},
		},
	}
	if _, err := c.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	current := func() *policyv1.PodDisruptionBudget {
		t.Helper()
		got, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	settled := func() bool {
		got := current()
		s := got.Status
		cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
		return s.ObservedGeneration == got.Generation && s.CurrentHealthy == 3 && s.DesiredHealthy == 2 &&
			s.ExpectedPods == 3 && s.DisruptionsAllowed == 1 && len(s.DisruptedPods) == 0 &&
			cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == policyv1.SufficientPodsReason
	}
	eventually(t, "the budget to count 3 healthy pods and allow 1 disruption", settled)

	out := c.kubectl("-n", ns, "get", "pdb")
	if !regexp.MustCompile(`(?m)^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\n` +
		`web\s+2\s+N/A\s+1\s+\S+$`).MatchString(out) {
		t.Errorf("kubectl get pdb:\n%s\nwant web with MIN AVAILABLE 2 and ALLOWED DISRUPTIONS 1", out)
	}

	pods := livePods(t, c, ns, "web")
	if len(pods) != 3 {
		t.Fatalf("%d live pods, want 3", len(pods))
	}
	evict := func(name string) error {
		return c.client.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict(pods[0].Name); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	err := evict(pods[1].Name)
	if !apierrors.IsTooManyRequests(err) || err.Error() != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Fatalf("second eviction: %v, want 429 Cannot evict pod as it would violate the pod's disruption budget.", err)
	}
	if _, err := c.client.CoreV1().Pods(ns).Get(ctx, pods[1].Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused eviction's pod: %v", err)
	}
	if got := current().Status.DisruptionsAllowed; got != 0 {
		t.Errorf("disruptionsAllowed after one eviction = %d, want 0", got)
	}

	eventually(t, "the replacement pod to become Ready and the budget to allow 1 disruption again", settled)
	ready := 0
	for _, p := range livePods(t, c, ns, "web") {
		if p.Name == pods[0].Name {
			t.Errorf("evicted pod %s is still live", p.Name)
		}
		if isReady(&p) {
			ready++
		}
	}
	if ready != 3 {
		t.Errorf("%d Ready pods, want 3", ready)
	}

	// In policy/v1 an empty selector covers every pod of its namespace, for the controller's
	// counts and for the eviction subresource alike.
	t.Run("empty selector", func(t *testing.T) {
		const ns = "pdb-all"
		createNamespace(t, c, ns)
		bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}}}
		if _, err := c.client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		all := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{}},
		}
		if _, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, all, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the budget to count the lone Ready pod", func() bool {
			got, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "all", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s := got.Status
			cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
			return s.ObservedGeneration == got.Generation && s.ExpectedPods == 1 && s.CurrentHealthy == 1 &&
				s.DesiredHealthy == 1 && s.DisruptionsAllowed == 0 &&
				cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == policyv1.InsufficientPodsReason
		})
		err := c.client.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: ns}})
		const cause = "The disruption budget all needs 1 healthy pods and has 1 currently"
		var status apierrors.APIStatus
		if !apierrors.IsTooManyRequests(err) || !errors.As(err, &status) || status.Status().Details == nil ||
			len(status.Status().Details.Causes) != 1 || status.Status().Details.Causes[0].Message != cause {
			t.Fatalf("evicting the lone pod: %#v, want 429 TooManyRequests with cause %q", err, cause)
		}

		// A second budget over the same pod: the eviction subresource supports only one.
		second := all.DeepCopy()
		second.Name, second.ResourceVersion = "second", ""
		if _, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, second, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err = c.client.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: ns}})
		const multiple = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
		if !apierrors.IsInternalError(err) || err.Error() != multiple {
			t.Fatalf("evicting a pod with two budgets: %v, want 500 %s", err, multiple)
		}
		if _, err := c.client.CoreV1().Pods(ns).Get(ctx, "lone", metav1.GetOptions{}); err != nil {
			t.Fatalf("the pod whose eviction was refused: %v", err)
		}
	})
}
