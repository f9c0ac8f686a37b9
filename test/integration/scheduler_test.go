package integration

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/gantryhq/gantry/internal/app"
	"github.com/gantryhq/gantry/internal/scheduler"
)

// startScheduler runs the scheduler against c until the test ends.
func startScheduler(t *testing.T, c *cluster) {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(c.config)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := scheduler.New(client, factory, scheduler.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
		factory.Shutdown()
	})
}

// schedNode creates a Ready node with the given CPUs (and 8 GiB, 110 pods), as an agent would
// register it: the object first, then its status.
func schedNode(t *testing.T, c *cluster, name, cpu string, labels map[string]string, taints ...corev1.Taint) {
	t.Helper()
	ctx := context.Background()
	l := map[string]string{corev1.LabelHostname: name}
	for k, v := range labels {
		l[k] = v
	}
	_, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	err = updateNode(ctx, c.client, name, true, func(n *corev1.Node) {
		n.Status = corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
	})
	if err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
}

type schedPodOpt func(*corev1.Pod)

func withCPU(cpu string) schedPodOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
}

func withLabels(kv ...string) schedPodOpt {
	return func(p *corev1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func schedPod(t *testing.T, c *cluster, ns, name string, opts ...schedPodOpt) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/app:1"}}},
	}
	for _, o := range opts {
		o(p)
	}
	p, err := c.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return p
}

// boundTo waits until the pod is bound and returns its node.
func boundTo(t *testing.T, c *cluster, ns, name string) string {
	t.Helper()
	var node string
	eventually(t, "pod "+name+" bound", func() bool {
		p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod %s: %v", name, err)
		}
		node = p.Spec.NodeName
		return node != ""
	})
	return node
}

// podEvent waits for an event about the pod with the given reason, read back through
// core/v1 as kubectl describe reads it, and returns its message.
func podEvent(t *testing.T, c *cluster, ns, pod, reason string) *corev1.Event {
	t.Helper()
	var found *corev1.Event
	eventually(t, reason+" event for "+pod, func() bool {
		list, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.name": pod, "involvedObject.kind": "Pod", "reason": reason}.String(),
		})
		if err != nil {
			t.Fatalf("list events: %v", err)
		}
		if len(list.Items) > 0 {
			found = &list.Items[len(list.Items)-1]
			return true
		}
		return false
	})
	return found
}

func TestScheduler(t *testing.T) {
	// No local agent: the test's nodes are the only ones.
	c := startCluster(t, func(cfg *app.ServerConfig) { cfg.DisableAgent, cfg.DisableScheduler = true, true })
	ctx := context.Background()
	const zone = corev1.LabelTopologyZone
	gpuTaint := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	schedNode(t, c, "node-a", "2", map[string]string{zone: "a"})
	schedNode(t, c, "node-b", "2", map[string]string{zone: "b"})
	schedNode(t, c, "node-gpu", "2", map[string]string{zone: "a", "accelerator": "gpu"}, gpuTaint)
	startScheduler(t, c)

	t.Run("binds pods where they fit", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			schedPod(t, c, "default", fmt.Sprint("web-", i), withCPU("500m"))
		}
		perNode := map[string]int{}
		for i := 0; i < 4; i++ {
			perNode[boundTo(t, c, "default", fmt.Sprint("web-", i))]++
		}
		if perNode["node-a"] != 2 || perNode["node-b"] != 2 {
			t.Errorf("placements %v: want 2 on node-a and node-b, none on the tainted node", perNode)
		}
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ev := podEvent(t, c, "default", "web-0", "Scheduled")
		if want := "Successfully assigned default/web-0 to " + p.Spec.NodeName; ev.Message != want || ev.Type != corev1.EventTypeNormal {
			t.Errorf("Scheduled event %q (%s), want %q", ev.Message, ev.Type, want)
		}
		if ev.ReportingController != "default-scheduler" {
			t.Errorf("reportingController %q", ev.ReportingController)
		}
	})

	t.Run("tolerations and node selector", func(t *testing.T) {
		schedPod(t, c, "default", "trainer", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"accelerator": "gpu"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		})
		if n := boundTo(t, c, "default", "trainer"); n != "node-gpu" {
			t.Errorf("bound to %s", n)
		}
	})

	t.Run("zone spread", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			schedPod(t, c, "default", fmt.Sprint("spread-", i), withLabels("app", "spread"), func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
					MaxSkew: 1, TopologyKey: zone, WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
				}}
			})
		}
		zones := map[string]int{}
		for i := 0; i < 4; i++ {
			n, err := c.client.CoreV1().Nodes().Get(ctx, boundTo(t, c, "default", fmt.Sprint("spread-", i)), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			zones[n.Labels[zone]]++
		}
		if zones["a"] != 2 || zones["b"] != 2 {
			t.Errorf("zones %v, want 2 and 2", zones)
		}
	})

	t.Run("unschedulable, then retried when a node is added", func(t *testing.T) {
		schedPod(t, c, "default", "huge", withCPU("8"))
		want := "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. " +
			"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
		ev := podEvent(t, c, "default", "huge", "FailedScheduling")
		if ev.Message != want || ev.Type != corev1.EventTypeWarning {
			t.Errorf("FailedScheduling %q (%s)\nwant %q", ev.Message, ev.Type, want)
		}
		eventually(t, "PodScheduled=False", func() bool {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, "huge", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse &&
					cond.Reason == corev1.PodReasonUnschedulable && cond.Message == want {
					return true
				}
			}
			return false
		})
		describe := c.kubectl("describe", "pod", "huge")
		if !strings.Contains(describe, "FailedScheduling") || !strings.Contains(describe, "default-scheduler") ||
			!strings.Contains(describe, "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu.") {
			t.Errorf("kubectl describe pod shows:\n%s", describe)
		}
		start := time.Now()
		schedNode(t, c, "node-big", "16", map[string]string{zone: "b"})
		if n := boundTo(t, c, "default", "huge"); n != "node-big" {
			t.Errorf("bound to %s", n)
		}
		// Backoff is 1 s after the first failure, and no timer of minutes is involved.
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %v to notice the new node", took)
		}
	})

	t.Run("preemption evicts a lower-priority pod", func(t *testing.T) {
		for name, value := range map[string]int32{"low": 100, "high": 1_000_000} {
			if _, err := c.client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value,
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		schedNode(t, c, "node-p", "1", map[string]string{"pool": "preempt"})
		onPool := func(class string) schedPodOpt {
			return func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"pool": "preempt"}
				p.Spec.PriorityClassName = class
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			}
		}
		schedPod(t, c, "default", "victim", onPool("low"))
		if n := boundTo(t, c, "default", "victim"); n != "node-p" {
			t.Fatalf("victim bound to %s", n)
		}
		schedPod(t, c, "default", "preemptor", onPool("high"))
		ev := podEvent(t, c, "default", "preemptor", "FailedScheduling")
		if !strings.HasSuffix(ev.Message, "preemption: found a potential placement for pod on node node-p, preempting 1 victims") ||
			!strings.Contains(ev.Message, "1 Insufficient cpu") {
			t.Errorf("FailedScheduling %q", ev.Message)
		}
		var victim *corev1.Pod
		eventually(t, "victim evicted", func() bool {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			victim = p
			return p.DeletionTimestamp != nil
		})
		if !scheduler.TerminatingByPreemption(victim) {
			t.Errorf("victim conditions %+v: want DisruptionTarget/PreemptionByScheduler", victim.Status.Conditions)
		}
		if ev := podEvent(t, c, "default", "victim", "Preempted"); !strings.HasPrefix(ev.Message, "Preempted by pod ") || !strings.HasSuffix(ev.Message, " on node node-p") {
			t.Errorf("Preempted event %q", ev.Message)
		}
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "preemptor", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName == "" && p.Status.NominatedNodeName != "node-p" {
			t.Errorf("preemptor nominatedNodeName %q", p.Status.NominatedNodeName)
		}
		// No agent runs here: finish the victim's graceful deletion as its node's agent would.
		zero := int64(0)
		if err := c.client.CoreV1().Pods("default").Delete(ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		if n := boundTo(t, c, "default", "preemptor"); n != "node-p" {
			t.Errorf("preemptor bound to %s", n)
		}
	})
}

// countingBinder counts the bindings written.
type countingBinder struct {
	scheduler.Binder
	n           atomic.Int64
	first, last atomic.Int64 // unix nanos of the first and latest bindings
	latency     atomic.Int64 // total nanoseconds spent binding
}

func (b *countingBinder) Bind(ctx context.Context, pod *corev1.Pod, node string) error {
	t0 := time.Now()
	err := b.Binder.Bind(ctx, pod, node)
	b.latency.Add(int64(time.Since(t0)))
	if err == nil {
		now := time.Now().UnixNano()
		b.first.CompareAndSwap(0, now)
		b.n.Add(1)
		b.last.Store(now)
	}
	return err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkSchedulerThroughput measures placement plus binding (and the Scheduled events)
// through the in-process API server and etcd, on nodes without agents, as upstream's
// scheduler_perf SchedulingBasic does (nodes of 4 CPUs and 32 GiB, pods asking 100m and
// 500Mi). The pods exist before the scheduler starts; the clock runs from Run to the last
// binding. Sizes: GANTRY_BENCH_NODES (5000) and GANTRY_BENCH_PODS (10000);
// GANTRY_BENCH_CPUPROFILE names a file for a CPU profile of the scheduling phase alone.
//
//	go test ./test/integration -run '^$' -bench SchedulerThroughput -benchtime 1x
func BenchmarkSchedulerThroughput(b *testing.B) {
	nodes, pods := envInt("GANTRY_BENCH_NODES", 5000), envInt("GANTRY_BENCH_PODS", 10000)
	cfg := app.DefaultServerConfig()
	cfg.DataDir, cfg.BindAddress, cfg.HTTPSPort, cfg.DisableAgent, cfg.DisableScheduler = b.TempDir(), "127.0.0.1", 0, true, true
	// Pod ranges for 8,192 nodes, so that none is left NetworkUnavailable (and tainted).
	cfg.NodeCIDRMaskSize = 29
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.StartServer(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); srv.Wait() }()
	config, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	config.QPS, config.Burst = 10000, 20000
	client := kubernetes.NewForConfigOrDie(config)

	parallel := func(n int, f func(i int) error) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for w := 0; w < 32; w++ {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					if err := f(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110"),
	}
	parallel(nodes, func(i int) error {
		name := fmt.Sprintf("node-%05d", i)
		_, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelTopologyZone: fmt.Sprint("zone-", i%10)}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		return updateNode(ctx, client, name, true, func(n *corev1.Node) {
			n.Status = corev1.NodeStatus{Capacity: capacity, Allocatable: capacity, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
		})
	})
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		ns := fmt.Sprint("bench-", iter)
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		parallel(pods, func(i int) error {
			_, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("pod-", i)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: "registry.local/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("500Mi")}}}}},
			}, metav1.CreateOptions{})
			return err
		})
		binder := &countingBinder{Binder: scheduler.ClientBinder{Client: client}}
		factory := informers.NewSharedInformerFactory(client, 0)
		s := scheduler.New(client, factory, scheduler.Options{Binder: binder})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		if path := os.Getenv("GANTRY_BENCH_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		b.StartTimer()
		start := time.Now()
		go func() { done <- s.Run(runCtx) }()
		for binder.n.Load() < int64(pods) {
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("only %d of %d pods bound", binder.n.Load(), pods)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Unix(0, binder.last.Load()).Sub(start)
		b.StopTimer()
		stop()
		<-done
		factory.Shutdown()
		b.ReportMetric(float64(pods)/took.Seconds(), "pods/s")
		b.Logf("%d nodes: %d pods bound in %v (%.0f pods/s); the first after %v (informer sync); %v per binding on average", nodes, pods, took,
			float64(pods)/took.Seconds(), time.Unix(0, binder.first.Load()).Sub(start), time.Duration(binder.latency.Load()/int64(pods)))
	}
}

// updateNode changes a node as an agent would, reading it again and retrying when the write
// conflicts with another (the nodeipam controller giving the node its pod range); with
// status it writes the status subresource.
func updateNode(ctx context.Context, client kubernetes.Interface, name string, status bool, mutate func(*corev1.Node)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(n)
		if status {
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		} else {
			_, err = client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
		return err
	})
}
