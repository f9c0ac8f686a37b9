package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
	"github.com/gantryhq/gantry/internal/app"
)

// TestLostNode stops the agent of one node and checks what a user sees: the node turns
// Ready=Unknown and gets the unreachable taints, its pods are evicted once their toleration
// runs out, and the Deployment's pods run again on the node that is left.
func TestLostNode(t *testing.T) {
	c := startCluster(t, func(cfg *app.ServerConfig) { cfg.NodeMonitorGracePeriod = 3 * time.Second })
	ctx := context.Background()
	fast := func(prefix string) simulate.Options {
		o := simulate.DefaultOptions()
		o.NodePrefix, o.PodStartDelay = prefix, 0
		o.LeaseRenewInterval, o.LeaseDuration = 500*time.Millisecond, 3*time.Second
		return o
	}
	stopLost := runSimulator(t, c, fast("lost"))
	eventually(t, "node lost-0 to be Ready", func() bool { return simulatedReady(t, c) == 1 })

	// Every pod gets the default tolerations; this Deployment shortens the unreachable one.
	d := deployment("web", 2)
	d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)}}
	if _, err := c.client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := c.kubectl("rollout", "status", "deployment/web", "--timeout=60s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %s", out)
	}
	before := livePods(t, c, "default", "web")
	for _, p := range before {
		if p.Spec.NodeName != "lost-0" {
			t.Fatalf("pod %s on %s, want lost-0 (the only node)", p.Name, p.Spec.NodeName)
		}
		want := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return t.MatchToleration(&want) && *t.TolerationSeconds == 300 }) {
			t.Errorf("pod %s tolerations %+v, want the default not-ready toleration of 300 s", p.Name, p.Spec.Tolerations)
		}
	}

	runSimulator(t, c, fast("kept"))
	eventually(t, "node kept-0 to be Ready", func() bool { return simulatedReady(t, c) == 2 })
	stopLost()

	eventually(t, "node lost-0 to become Ready=Unknown with the unreachable taints", func() bool {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionUnknown && cond.Reason == "NodeStatusUnknown" && cond.Message == "Kubelet stopped posting node status."
			}
		}
		var taints []string
		for _, t := range n.Spec.Taints {
			taints = append(taints, t.ToString())
		}
		slices.Sort(taints)
		return ready && slices.Equal(taints, []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"})
	})
	eventually(t, "the pods on lost-0 to be evicted", func() bool {
		for _, old := range before {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, old.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The lost agent cannot finish the deletion: the pods stay Terminating, as on
			// Kubernetes, until the node is deleted or comes back.
			if p.DeletionTimestamp == nil || !hasCondition(p, corev1.DisruptionTarget) || hasCondition(p, corev1.PodReady) {
				return false
			}
		}
		return true
	})
	if out := c.kubectl("rollout", "status", "deployment/web", "--timeout=60s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status after losing a node: %s", out)
	}
	eventually(t, "two Ready pods on kept-0", func() bool {
		n := 0
		for _, p := range livePods(t, c, "default", "web") {
			if p.Spec.NodeName == "kept-0" && isReady(&p) {
				n++
			}
		}
		return n == 2
	})
	ev := podEvent(t, c, "default", before[0].Name, "TaintManagerEviction")
	if want := "Marking for deletion Pod default/" + before[0].Name; ev.Message != want {
		t.Errorf("eviction event %q, want %q", ev.Message, want)
	}
}
