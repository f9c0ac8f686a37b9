package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// templateGenerationLabel is the pod label that carries the DaemonSet's template generation.
const templateGenerationLabel = "pod-template-generation"

// simNodes runs a simulator of n nodes named prefix-0 … prefix-(n-1), with taints, whose
// pods start quickly.
func simNodes(t *testing.T, c *cluster, prefix string, n int, taints ...corev1.Taint) {
	t.Helper()
	opts := simulate.DefaultOptions()
	opts.Nodes = n
	opts.NodePrefix = prefix
	opts.Taints = taints
	opts.PodStartDelay = 100 * time.Millisecond
	runSimulator(t, c, opts)
}

func daemonSet(name, image string, nodeSelector map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{NodeSelector: nodeSelector, Containers: []corev1.Container{{Name: "agent", Image: image}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
		},
	}
}

// daemonPods returns the live pods of the DaemonSet name by node, failing the test on a
// node with more than one.
func daemonPods(t *testing.T, c *cluster, name string) map[string]corev1.Pod {
	t.Helper()
	list, err := c.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if prev, dup := out[p.Spec.NodeName]; dup && p.Spec.NodeName != "" {
			t.Fatalf("two pods of %s on node %s: %s and %s", name, p.Spec.NodeName, prev.Name, p.Name)
		}
		out[p.Spec.NodeName] = p
	}
	return out
}

// settled reports whether name's status shows want nodes all running the current template,
// ready, for the current generation.
func settled(t *testing.T, c *cluster, name string, want int32) bool {
	ds, err := c.client.AppsV1().DaemonSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Status
	return s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == want && s.CurrentNumberScheduled == want &&
		s.NumberReady == want && s.NumberAvailable == want && s.UpdatedNumberScheduled == want && s.NumberUnavailable == 0 &&
		s.NumberMisscheduled == 0
}

func nodesOf(pods map[string]corev1.Pod) []string {
	var nodes []string
	for n := range pods {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	return nodes
}

func TestDaemonSet(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	sets := c.client.AppsV1().DaemonSets("default")
	simNodes(t, c, "ds", 3)
	eventually(t, "3 Ready nodes", func() bool { return simulatedReady(t, c) == 3 })

	if _, err := sets.Create(ctx, daemonSet("agent", "busybox:1.36", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "agent on 3 nodes", func() bool { return settled(t, c, "agent", 3) })
	pods := daemonPods(t, c, "agent")
	if got := nodesOf(pods); !slices.Equal(got, []string{"ds-0", "ds-1", "ds-2"}) {
		t.Fatalf("agent pods on %v, want one on each of ds-0..2", got)
	}
	p := pods["ds-1"]
	if p.Status.Phase != corev1.PodRunning || !hasCondition(&p, corev1.PodReady) {
		t.Errorf("pod %s is %s, want Running and Ready", p.Name, p.Status.Phase)
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || p.Labels[templateGenerationLabel] != "1" {
		t.Errorf("pod labels %v, want controller-revision-hash and pod-template-generation=1", p.Labels)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || !slices.Equal(terms[0].MatchFields[0].Values, []string{"ds-1"}) {
		t.Errorf("pod node affinity %+v, want matchFields metadata.name In [ds-1]", terms)
	}
	var tolerated []string
	for _, tol := range p.Spec.Tolerations {
		tolerated = append(tolerated, fmt.Sprintf("%s:%s", tol.Key, tol.Effect))
	}
	for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"} {
		if !slices.Contains(tolerated, want) {
			t.Errorf("pod tolerations %v lack %s", tolerated, want)
		}
	}
	if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "DaemonSet" || ref.Name != "agent" {
		t.Errorf("pod controller %+v, want DaemonSet agent", ref)
	}

	top := t
	t.Run("new nodes: a pod on the untainted one only", func(t *testing.T) {
		// The nodes outlive the subtest: later ones need their pods run and deleted.
		simNodes(top, c, "tainted", 1, corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule})
		eventually(t, "tainted node Ready", func() bool { return simulatedReady(t, c) == 4 })
		simNodes(top, c, "late", 1)
		eventually(t, "agent on 4 nodes", func() bool { return settled(t, c, "agent", 4) })
		if got := nodesOf(daemonPods(t, c, "agent")); !slices.Equal(got, []string{"ds-0", "ds-1", "ds-2", "late-0"}) {
			t.Errorf("agent pods on %v, want ds-0..2 and late-0 (not the tainted node)", got)
		}
		// A DaemonSet that tolerates the taint runs there too.
		tolerant := daemonSet("tolerant", "busybox:1.36", nil)
		tolerant.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
		if _, err := sets.Create(ctx, tolerant, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "tolerant on 5 nodes", func() bool { return settled(t, c, "tolerant", 5) })
		if _, ok := daemonPods(t, c, "tolerant")["tainted-0"]; !ok {
			t.Error("no tolerant pod on tainted-0")
		}
	})

	t.Run("nodeSelector restricts and follows labels", func(t *testing.T) {
		if _, err := sets.Create(ctx, daemonSet("edge", "busybox:1.36", map[string]string{"role": "edge"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.kubectl("label", "node", "ds-2", "role=edge")
		eventually(t, "edge on ds-2 only", func() bool {
			return settled(t, c, "edge", 1) && slices.Equal(nodesOf(daemonPods(t, c, "edge")), []string{"ds-2"})
		})
		c.kubectl("label", "node", "ds-0", "role=edge")
		eventually(t, "edge on ds-0 and ds-2", func() bool {
			return settled(t, c, "edge", 2) && slices.Equal(nodesOf(daemonPods(t, c, "edge")), []string{"ds-0", "ds-2"})
		})
		c.kubectl("label", "node", "ds-2", "role-")
		eventually(t, "edge pod leaves ds-2", func() bool {
			return settled(t, c, "edge", 1) && slices.Equal(nodesOf(daemonPods(t, c, "edge")), []string{"ds-0"})
		})
	})

	t.Run("deleted pod is replaced", func(t *testing.T) {
		old := daemonPods(t, c, "agent")["ds-0"]
		if err := c.client.CoreV1().Pods("default").Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a new agent pod on ds-0", func() bool {
			p, ok := daemonPods(t, c, "agent")["ds-0"]
			return ok && p.UID != old.UID && settled(t, c, "agent", 4)
		})
	})

	t.Run("image change rolls out", func(t *testing.T) {
		c.kubectl("set", "image", "daemonset/agent", "agent=busybox:1.37")
		out := c.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
		if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
			t.Errorf("rollout status said:\n%s", out)
		}
		pods := daemonPods(t, c, "agent")
		for node, p := range pods {
			if img := p.Spec.Containers[0].Image; img != "busybox:1.37" || p.Labels[templateGenerationLabel] != "2" {
				t.Errorf("pod on %s: image %s, pod-template-generation %s, want busybox:1.37 and 2", node, img, p.Labels[templateGenerationLabel])
			}
		}
		if len(pods) != 4 {
			t.Errorf("%d agent pods after the rollout, want 4", len(pods))
		}
		history := c.kubectl("rollout", "history", "daemonset/agent")
		if !strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") {
			t.Errorf("rollout history lacks revisions 1 and 2:\n%s", history)
		}

		c.kubectl("rollout", "undo", "daemonset/agent")
		c.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
		for node, p := range daemonPods(t, c, "agent") {
			if img := p.Spec.Containers[0].Image; img != "busybox:1.36" {
				t.Errorf("pod on %s after undo: image %s, want busybox:1.36", node, img)
			}
		}
		history = c.kubectl("rollout", "history", "daemonset/agent")
		if strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") || !strings.Contains(history, "\n3 ") {
			t.Errorf("rollout history after undo: want revisions 2 and 3 (1 renumbered):\n%s", history)
		}
	})
}
