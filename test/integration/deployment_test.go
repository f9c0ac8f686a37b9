package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// livePods returns the pods of app that are not being deleted.
func livePods(t *testing.T, c *cluster, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func replicaSetsOf(t *testing.T, c *cluster, ns, app string) []appsv1.ReplicaSet {
	t.Helper()
	list, err := c.client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestDeploymentController(t *testing.T) {
	c := startCluster(t)
	// Pods take a moment to start, so that a rollout has unready pods to count.
	sim := simulate.DefaultOptions()
	sim.Nodes, sim.PodStartDelay = 3, 200*time.Millisecond
	stopSim := runSimulator(t, c, sim)
	top := t
	const ns = "rollout"
	createNamespace(t, c, ns)
	ctx := context.Background()

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}},
			},
		},
	}
	if _, err := c.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolloutStatus := func() {
		t.Helper()
		out := c.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		if !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status: %s", out)
		}
	}
	image := func() string {
		t.Helper()
		d, err := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	var first appsv1.ReplicaSet
	t.Run("create", func(t *testing.T) {
		rolloutStatus()
		sets := replicaSetsOf(t, c, ns, "web")
		if len(sets) != 1 {
			t.Fatalf("%d replicasets, want 1", len(sets))
		}
		first = sets[0]
		hash := first.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || first.Name != "web-"+hash {
			t.Errorf("replicaset %s with pod-template-hash %q", first.Name, hash)
		}
		for k, want := range map[string]string{"deployment.kubernetes.io/revision": "1",
			"deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"} {
			if got := first.Annotations[k]; got != want {
				t.Errorf("annotation %s = %q, want %q", k, got, want)
			}
		}
		pods := livePods(t, c, ns, "web")
		if len(pods) != 3 {
			t.Fatalf("%d pods, want 3", len(pods))
		}
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != first.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) || !strings.HasPrefix(p.Name, first.Name+"-") {
				t.Errorf("pod %s owned by %v", p.Name, ref)
			}
		}
		got, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if st := got.Status; st.Replicas != 3 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.ObservedGeneration != got.Generation {
			t.Errorf("status %+v", st)
		}
		// What kubectl describe shows under Events.
		eventually(t, "the scaling and pod creation events", func() bool {
			return hasEvent(t, c, ns, "Deployment", "web", "ScalingReplicaSet", "Scaled up replica set "+first.Name+" from 0 to 3") &&
				hasEvent(t, c, ns, "ReplicaSet", first.Name, "SuccessfulCreate", "Created pod: "+pods[0].Name)
		})
	})

	t.Run("rolling update keeps availability", func(t *testing.T) {
		var (
			minReady = 3
			samples  int
			stop     = make(chan struct{})
			sampled  = make(chan struct{})
		)
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				default:
				}
				list, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				if err == nil {
					n := 0
					for _, p := range list.Items {
						if p.DeletionTimestamp == nil && isReady(&p) {
							n++
						}
					}
					minReady = min(minReady, n)
					samples++
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		c.kubectl("-n", ns, "set", "image", "deployment/web", "app=nginx:2")
		rolloutStatus()
		close(stop)
		<-sampled
		if minReady < 2 {
			t.Errorf("%d ready pods at one point during the rollout, want at least 2 (replicas 3, maxUnavailable 1)", minReady)
		}
		t.Logf("%d samples, at least %d ready", samples, minReady)
		sets := replicaSetsOf(t, c, ns, "web")
		if len(sets) != 2 {
			t.Fatalf("%d replicasets, want 2", len(sets))
		}
		for _, rs := range sets {
			want, rev := int32(3), "2"
			if rs.UID == first.UID {
				want, rev = 0, "1"
			}
			if *rs.Spec.Replicas != want || rs.Annotations["deployment.kubernetes.io/revision"] != rev {
				t.Errorf("replicaset %s: replicas %d revision %s, want %d and %s", rs.Name, *rs.Spec.Replicas,
					rs.Annotations["deployment.kubernetes.io/revision"], want, rev)
			}
		}
		for _, p := range livePods(t, c, ns, "web") {
			if p.Spec.Containers[0].Image != "nginx:2" {
				t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
		}
	})

	t.Run("history and undo", func(t *testing.T) {
		out := c.kubectl("-n", ns, "rollout", "history", "deployment/web")
		if !regexpLines(out, "1", "2") {
			t.Errorf("rollout history:\n%s", out)
		}
		c.kubectl("-n", ns, "rollout", "undo", "deployment/web")
		rolloutStatus()
		if img := image(); img != "nginx:1" {
			t.Errorf("image after undo %s, want nginx:1", img)
		}
		rs, err := c.client.AppsV1().ReplicaSets(ns).Get(ctx, first.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rs.UID != first.UID || *rs.Spec.Replicas != 3 || rs.Annotations["deployment.kubernetes.io/revision"] != "3" ||
			rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
			t.Errorf("first replicaset after undo: replicas %d annotations %v", *rs.Spec.Replicas, rs.Annotations)
		}
		if n := len(replicaSetsOf(t, c, ns, "web")); n != 2 {
			t.Errorf("%d replicasets after undo, want 2 (the old one reused)", n)
		}
		out = c.kubectl("-n", ns, "rollout", "history", "deployment/web")
		if !regexpLines(out, "2", "3") {
			t.Errorf("rollout history after undo:\n%s", out)
		}
	})

	t.Run("scale down removes unready pods first", func(t *testing.T) {
		before := map[string]bool{}
		for _, p := range livePods(t, c, ns, "web") {
			before[p.Name] = true
		}
		// With the nodes' agent stopped, the new pods never become ready.
		stopSim()
		c.kubectl("-n", ns, "scale", "deployment/web", "--replicas=5")
		eventually(t, "5 pods", func() bool { return len(livePods(t, c, ns, "web")) == 5 })
		c.kubectl("-n", ns, "scale", "deployment/web", "--replicas=3")
		eventually(t, "3 pods", func() bool { return len(livePods(t, c, ns, "web")) == 3 })
		for _, p := range livePods(t, c, ns, "web") {
			if !before[p.Name] {
				t.Errorf("pod %s (new, unready) survived the scale-down; the ready ones were %v", p.Name, before)
			}
		}
		runSimulator(top, c, sim) // for the rest of the test, not just this subtest
		rolloutStatus()
	})

	t.Run("restart", func(t *testing.T) {
		c.kubectl("-n", ns, "rollout", "restart", "deployment/web")
		rolloutStatus()
		sets := replicaSetsOf(t, c, ns, "web")
		if len(sets) != 3 {
			t.Fatalf("%d replicasets after restart, want 3", len(sets))
		}
		got, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if got.Annotations["deployment.kubernetes.io/revision"] != "4" {
			t.Errorf("deployment revision %q, want 4", got.Annotations["deployment.kubernetes.io/revision"])
		}
		cond := func(typ appsv1.DeploymentConditionType) string {
			for _, c := range got.Status.Conditions {
				if c.Type == typ {
					return fmt.Sprintf("%s/%s", c.Status, c.Reason)
				}
			}
			return ""
		}
		if a, p := cond(appsv1.DeploymentAvailable), cond(appsv1.DeploymentProgressing); a != "True/MinimumReplicasAvailable" || p != "True/NewReplicaSetAvailable" {
			t.Errorf("conditions Available %s, Progressing %s", a, p)
		}
	})
	t.Run("recreate never mixes versions", func(t *testing.T) {
		var (
			mixed   atomic.Bool
			stop    = make(chan struct{})
			sampled = make(chan struct{})
		)
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if list, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"}); err == nil {
					images := map[string]bool{}
					for _, p := range list.Items {
						images[p.Spec.Containers[0].Image] = true
					}
					if len(images) > 1 {
						mixed.Store(true)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			d.Spec.Template.Spec.Containers[0].Image = "nginx:3"
			_, err = c.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rolloutStatus()
		close(stop)
		<-sampled
		if mixed.Load() {
			t.Error("pods of two versions existed at once during a Recreate rollout")
		}
		if img := image(); img != "nginx:3" {
			t.Errorf("image %s", img)
		}
		if n := len(livePods(t, c, ns, "web")); n != 3 {
			t.Errorf("%d pods, want 3", n)
		}
	})
}

// regexpLines reports whether kubectl rollout history's table lists exactly the revisions
// want, in order.
func regexpLines(out string, want ...string) bool {
	var revs []string
	table := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "REVISION":
			table = true
		case table && len(f) > 0 && strings.Trim(f[0], "0123456789") == "":
			revs = append(revs, f[0])
		}
	}
	return slices.Equal(revs, want)
}

// hasEvent reports whether an Event about the named object has reason and message.
func hasEvent(t *testing.T, c *cluster, ns, kind, name, reason, message string) bool {
	t.Helper()
	list, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": kind, "involvedObject.name": name, "reason": reason}.String(),
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return slices.ContainsFunc(list.Items, func(e corev1.Event) bool { return e.Message == message })
}
