package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// Workloads of `gantry bench scheduler`.
const (
	// WorkloadPlain pods ask for 100m CPU and 500Mi, as upstream scheduler_perf's
	// SchedulingBasic.
	WorkloadPlain = "plain"
	// WorkloadAntiAffinity pods also repel the other pods of their group (half as many pods
	// as nodes) by hostname: required pod anti-affinity.
	WorkloadAntiAffinity = "anti-affinity"
	// WorkloadSpread pods spread over zones with maxSkew 1 (DoNotSchedule) and over nodes
	// (ScheduleAnyway).
	WorkloadSpread = "spread"
)

// Workloads lists every workload, in the order "all" runs them.
var Workloads = []string{WorkloadPlain, WorkloadAntiAffinity, WorkloadSpread}

// SchedulerOptions says what Scheduler measures. Zero values take the defaults.
type SchedulerOptions struct {
	// Nodes is how many simulated nodes run; default 1,000.
	Nodes int
	// Pods is how many pods are created and scheduled; default 10,000.
	Pods int
	// Workloads to run, each on a new server; default all of Workloads.
	Workloads []string
	// Clients is how many clients create the pods concurrently; default 16.
	Clients int
	// DataDir holds one data directory per run; default a new temporary directory, removed
	// afterwards unless a run fails.
	DataDir string
	// Executable is the gantry binary whose `server` command is measured; default the
	// running executable.
	Executable string
	// Env is added to the server process's environment.
	Env []string
}

func (o SchedulerOptions) withDefaults() SchedulerOptions {
	if o.Nodes <= 0 {
		o.Nodes = 1000
	}
	if o.Pods <= 0 {
		o.Pods = 10000
	}
	if o.Clients <= 0 {
		o.Clients = 16
	}
	if len(o.Workloads) == 0 {
		o.Workloads = Workloads
	}
	return o
}

// schedulerResult is what one run measured.
type schedulerResult struct {
	workload  string
	pods      int
	wall      time.Duration // first create sent to last binding seen
	latency   latencies     // per pod: create sent to binding seen
	cpu       time.Duration // server CPU time over the run
	peakRSS   int64
	nodesTook time.Duration // registering the simulated nodes
}

// Scheduler measures the scheduler of a gantry server: for each workload it starts a new
// server, registers simulated nodes, creates pods as fast as the clients can, and times each
// pod from its create to its binding. It writes a table to w, with what it measured even if
// a run fails.
func Scheduler(ctx context.Context, w io.Writer, opts SchedulerOptions) (err error) {
	opts = opts.withDefaults()
	for _, wl := range opts.Workloads {
		if !slices.Contains(Workloads, wl) {
			return fmt.Errorf("unknown workload %q (want one of %v)", wl, Workloads)
		}
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the gantry executable: %w", err)
		}
	}
	dir := opts.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gantry-bench-scheduler-"); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(dir)
			} else {
				err = fmt.Errorf("%w (server data and logs kept in %s)", err, dir)
			}
		}()
	}
	var results []schedulerResult
	defer func() { writeSchedulerResults(w, opts, results) }()
	for _, wl := range opts.Workloads {
		res, err := runScheduler(ctx, exe, filepath.Join(dir, wl), opts, wl)
		if err != nil {
			return fmt.Errorf("workload %s: %w", wl, err)
		}
		results = append(results, res)
	}
	return nil
}

// runScheduler measures one workload on a server of its own.
func runScheduler(ctx context.Context, exe, dir string, opts SchedulerOptions, workload string) (schedulerResult, error) {
	res := schedulerResult{workload: workload, pods: opts.Pods}
	log := slog.Default().With("component", "bench", "workload", workload)
	port, err := freePort()
	if err != nil {
		return res, err
	}
	// Pod ranges for 8,192 nodes, so that none is left NetworkUnavailable (and tainted).
	srv, err := startServer(exe, opts.Env, dir, port, "--disable-agent", "--node-cidr-mask-size", "29")
	if err != nil {
		return res, err
	}
	defer srv.kill()
	_, config, err := srv.waitReady(ctx, readyTimeout)
	if err != nil {
		return res, err
	}
	admin, err := newClient(config, "")
	if err != nil {
		return res, err
	}

	log.Info("registering simulated nodes", "nodes", opts.Nodes)
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	sim := simulate.DefaultOptions()
	sim.Nodes = opts.Nodes
	sim.Zones = 10
	// Bound pods are not started: like upstream's scheduler_perf, this measures placement
	// and binding, not the nodes' status writes.
	sim.PodStartDelay = 24 * time.Hour
	sim.Logger = slog.New(slog.DiscardHandler)
	simDone := make(chan error, 1)
	start := time.Now()
	go func() { simDone <- simulate.Run(simCtx, config, sim) }()
	if err := waitNodesReady(ctx, admin, opts.Nodes, simDone); err != nil {
		return res, err
	}
	res.nodesTook = time.Since(start)

	ns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{})
	if err != nil {
		return res, fmt.Errorf("create namespace: %w", err)
	}
	cpuBefore, err := processCPU(srv.pid())
	if err != nil {
		return res, err
	}
	log.Info("creating pods", "pods", opts.Pods, "clients", opts.Clients)
	if err := createAndSchedule(ctx, config, ns.Name, opts, workload, &res); err != nil {
		return res, err
	}
	cpuAfter, err := processCPU(srv.pid())
	if err != nil {
		return res, err
	}
	res.cpu = cpuAfter - cpuBefore
	_, res.peakRSS, _ = srv.memory()
	stopSim()
	if err := <-simDone; err != nil {
		return res, fmt.Errorf("simulated nodes: %w", err)
	}
	_, err = srv.terminate(stopTimeout)
	return res, err
}

// waitNodesReady waits until n nodes are Ready, or the simulator fails.
func waitNodesReady(ctx context.Context, c kubernetes.Interface, n int, simDone <-chan error) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d simulated nodes Ready after 10 minutes", ready, n)
		}
		select {
		case err := <-simDone:
			return fmt.Errorf("simulated nodes stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createAndSchedule creates the pods with opts.Clients clients while a watch notes when each
// is bound, and fills in res.
func createAndSchedule(ctx context.Context, config *rest.Config, ns string, opts SchedulerOptions, workload string, res *schedulerResult) error {
	watcher, err := newClient(config, "")
	if err != nil {
		return err
	}
	w, err := watcher.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()

	sent := make([]atomic.Int64, opts.Pods) // unix nanoseconds each create was sent
	clients, err := newClients(config, "", opts.Clients)
	if err != nil {
		return err
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, opts.Clients)
	for _, c := range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < opts.Pods; i = int(next.Add(1) - 1) {
				sent[i].Store(time.Now().UnixNano())
				if _, err := c.CoreV1().Pods(ns).Create(ctx, benchSchedPod(i, opts.Nodes, workload), metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %d: %w", i, err)
					return
				}
			}
		})
	}

	bound := make(map[string]bool, opts.Pods)
	var last time.Time
	timeout := time.After(15 * time.Minute)
	for len(bound) < opts.Pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("pod watch closed after %d bindings", len(bound))
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || pod.Spec.NodeName == "" || bound[pod.Name] {
				continue
			}
			now := time.Now()
			var i int
			if _, err := fmt.Sscanf(pod.Name, "pod-%d", &i); err != nil || i < 0 || i >= opts.Pods {
				continue
			}
			bound[pod.Name] = true
			last = now
			res.latency = append(res.latency, now.Sub(time.Unix(0, sent[i].Load())))
		case err := <-errs:
			return err
		case <-timeout:
			return fmt.Errorf("%d of %d pods bound after 15 minutes", len(bound), opts.Pods)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	wg.Wait()
	res.wall = last.Sub(start)
	return nil
}

// benchSchedPod is pod i of a workload on a cluster of nodes nodes.
func benchSchedPod(i, nodes int, workload string) *corev1.Pod {
	labels := map[string]string{"app": "bench"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("pod-", i), Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: "registry.local/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("500Mi")}}}}},
	}
	switch workload {
	case WorkloadAntiAffinity:
		group := fmt.Sprint(i / max(nodes/2, 1))
		labels["group"] = group
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
	case WorkloadSpread:
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}}
		pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel},
			{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel},
		}
	}
	return pod
}

// writeSchedulerResults prints one row per run.
func writeSchedulerResults(w io.Writer, opts SchedulerOptions, results []schedulerResult) {
	fmt.Fprintf(w, "gantry bench scheduler: %d simulated nodes, %d pods, %d creating clients (%d CPUs, %s/%s)\n",
		opts.Nodes, opts.Pods, opts.Clients, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(w, "Pods are created while the scheduler runs; latency is from a pod's create to its binding seen in a watch.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tPODS/S\tP50\tP99\tSERVER CPU\tSERVER PEAK RSS\tNODES READY AFTER")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\n", r.workload, float64(r.pods)/r.wall.Seconds(),
			ms(r.latency.percentile(50)), ms(r.latency.percentile(99)), seconds(r.cpu), mib(r.peakRSS), seconds(r.nodesTook))
	}
	tw.Flush()
}
