package integration

import (
	"context"
	"net/netip"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// runSimulator runs `gantry agent --simulate` in this process against c until the test ends
// or the returned stop is called.
func runSimulator(t *testing.T, c *cluster, opts simulate.Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- simulate.Run(ctx, c.config, opts) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("simulate.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("simulate.Run did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

// simulatedReady counts the simulated nodes that are Ready.
func simulatedReady(t *testing.T, c *cluster) int {
	t.Helper()
	nodes, err := c.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: simulate.LabelSimulated + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready
}

func TestSimulatedNodes(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	opts := simulate.DefaultOptions()
	opts.Nodes = 20
	opts.Zones = 3
	opts.Labels = map[string]string{"pool": "sim"}
	opts.LeaseRenewInterval = 300 * time.Millisecond
	opts.NodeStatusInterval = time.Second
	opts.PodStartDelay = 200 * time.Millisecond
	opts.JobDuration = time.Second
	stop := runSimulator(t, c, opts)

	eventually(t, "20 Ready simulated nodes", func() bool { return simulatedReady(t, c) == 20 })
	node, err := c.client.CoreV1().Nodes().Get(ctx, "sim-7", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"kubernetes.io/hostname": "sim-7", "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-b",
		"node.kubernetes.io/instance-type": "simulated", "gantry.dev/simulated": "true", "pool": "sim",
	} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if cpu := node.Status.Allocatable[corev1.ResourceCPU]; cpu.String() != "8" || node.Status.NodeInfo.KubeletVersion != simulate.KubeletVersion {
		t.Errorf("allocatable cpu %s, nodeInfo %+v", cpu.String(), node.Status.NodeInfo)
	}

	// Every node has a Lease in kube-node-lease, and it is renewed.
	leases := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	list, err := leases.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, l := range list.Items {
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == l.Name && *l.Spec.LeaseDurationSeconds == 40 {
			held++
		}
	}
	if held != 20 {
		t.Errorf("%d of %d leases held by their node", held, len(list.Items))
	}
	first, err := leases.Get(ctx, "sim-19", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "lease of sim-19 renewed", func() bool {
		l, err := leases.Get(ctx, "sim-19", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first.Spec.RenewTime.Time)
	})

	pods := c.client.CoreV1().Pods("default")
	t.Run("pod runs", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-web"},
			Spec:       corev1.PodSpec{NodeName: "sim-3", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod Running and Ready", func() bool {
			p, err = pods.Get(ctx, "sim-web", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning && hasCondition(p, corev1.PodReady)
		})
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(ip) || p.Status.HostIP == "" {
			t.Errorf("podIP %q hostIP %q", p.Status.PodIP, p.Status.HostIP)
		}
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || !cs[0].Ready || cs[0].State.Running == nil {
			t.Errorf("container statuses = %+v", cs)
		}
	})

	t.Run("job pod succeeds", func(t *testing.T) {
		// No job controller runs here: the Job only owns the pod. Parallelism 0 and a selector
		// that the pod does not match keep any job controller from acting on either.
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-job"},
			Spec: batchv1.JobSpec{
				Parallelism: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "sim-job-template"}},
					Spec:       testPodSpec(corev1.RestartPolicyNever),
				},
			},
		}
		job, err := c.client.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-job-pod", OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID},
			}},
			Spec: corev1.PodSpec{NodeName: "sim-11", RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "work", Image: "busybox:1.36"}}},
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "job pod Succeeded", func() bool {
			p, err = pods.Get(ctx, "sim-job-pod", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodSucceeded
		})
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 || cs[0].Ready {
			t.Errorf("container statuses = %+v", cs)
		}
		if hasCondition(p, corev1.PodReady) {
			t.Error("a succeeded pod is Ready")
		}
	})

	t.Run("deleted pod goes", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-doomed"},
			Spec:       corev1.PodSpec{NodeName: "sim-5", Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod Running", func() bool {
			p, err := pods.Get(ctx, "sim-doomed", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning
		})
		start := time.Now()
		// The default grace period: the API only marks the pod; the node must finish.
		if err := pods.Delete(ctx, "sim-doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deleted pod removed", func() bool {
			_, err := pods.Get(ctx, "sim-doomed", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("the deleted pod took %s to go (grace period 30s): not removed by the agent", took)
		}
	})

	t.Run("restart registers again", func(t *testing.T) {
		stop()
		restarted := time.Now()
		runSimulator(t, c, opts)
		eventually(t, "every lease renewed by the new agent", func() bool {
			list, err := leases.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			renewed := 0
			for _, l := range list.Items {
				if l.Spec.RenewTime != nil && l.Spec.RenewTime.After(restarted) {
					renewed++
				}
			}
			return renewed == 20
		})
		if n := simulatedReady(t, c); n != 20 {
			t.Errorf("%d Ready simulated nodes after the restart", n)
		}
		// The running pod kept its address and still runs.
		p, err := pods.Get(ctx, "sim-web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod after the restart: %s", p.Status.Phase)
		}
	})
}
