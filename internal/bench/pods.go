package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/images"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// PodsOptions says what Pods measures. Zero values take the defaults.
type PodsOptions struct {
	// Counts are the batch sizes, each created at once on the one node; default 1, 30, 100.
	Counts []int
	// IdleCPU is how long idle CPU use is measured; default one minute.
	IdleCPU time.Duration
	// DataDir holds the server's and agent's data; default a new temporary directory.
	DataDir string
	// Executable is the gantry binary measured; default the running executable.
	Executable string
	Env        []string
}

// podsNode is the node the benchmark's agent registers.
const podsNode = "bench-node"

// Pods measures pod startup on one real node: a control-plane server and a `gantry agent`
// process with its containerd, pods of the pause image (present on the node, so that the
// figure is the node's own work, as in Kubernetes' density tests). Latency is from the
// create request to the Ready condition seen in a watch.
func Pods(ctx context.Context, w io.Writer, opts PodsOptions) (err error) {
	if len(opts.Counts) == 0 {
		opts.Counts = []int{1, 30, 100}
	}
	if opts.IdleCPU <= 0 {
		opts.IdleCPU = time.Minute
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	dir := opts.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gantry-bench-pods-"); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(dir)
			} else {
				err = fmt.Errorf("%w (data and logs kept in %s)", err, dir)
			}
		}()
	}
	log := slog.Default().With("component", "bench")
	api, reg, node := 0, 0, 0
	for _, p := range []*int{&api, &reg, &node} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	srv, err := startServer(exe, opts.Env, filepath.Join(dir, "server"), api, "--disable-agent", "--registry-port", strconv.Itoa(reg))
	if err != nil {
		return err
	}
	defer srv.kill()
	_, config, err := srv.waitReady(ctx, readyTimeout)
	if err != nil {
		return err
	}
	agentDir := filepath.Join(dir, "agent")
	agent := exec.Command(exe, "agent", "--kubeconfig", srv.kubeconfig, "--data-dir", agentDir,
		"--node-name", podsNode, "--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(node),
		"--registry", "127.0.0.1:"+strconv.Itoa(reg))
	agent.Env = append(os.Environ(), opts.Env...)
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return err
	}
	defer agentLog.Close()
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	defer func() {
		agent.Process.Signal(os.Interrupt)
		agent.Wait()
		// The pods' sandboxes, containerd, the proxy's table, the routes: all the node made.
		if err := uninstall.Run(context.Background(), uninstall.Options{DataDir: agentDir}); err != nil {
			slog.Warn("remove the benchmark's node", "err", err)
		}
	}()
	client, err := newClient(config, "")
	if err != nil {
		return err
	}
	if err := waitNodesReady(ctx, client, 1, nil); err != nil {
		return err
	}
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	res := podsResult{}
	// A first pod pulls the image, so that every measured pod finds it present.
	if _, err := startPods(ctx, client, ns.Name, "warm", 1); err != nil {
		return err
	}
	if err := deletePods(ctx, client, ns.Name); err != nil {
		return err
	}
	containerd := func() int {
		data, _ := os.ReadFile(filepath.Join(agentDir, "containerd", "containerd.pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	res.agentIdle, _, _ = processMemory(agent.Process.Pid)
	res.containerdIdle, _, _ = processMemory(containerd())
	log.Info("measuring idle CPU", "for", opts.IdleCPU)
	for _, p := range []struct {
		pid int
		out *time.Duration
	}{{agent.Process.Pid, &res.agentCPU}, {containerd(), &res.containerdCPU}, {srv.pid(), &res.serverCPU}} {
		before, err := processCPU(p.pid)
		if err != nil {
			return err
		}
		*p.out = -before
	}
	time.Sleep(opts.IdleCPU)
	res.idleFor = opts.IdleCPU
	for _, p := range []struct {
		pid int
		out *time.Duration
	}{{agent.Process.Pid, &res.agentCPU}, {containerd(), &res.containerdCPU}, {srv.pid(), &res.serverCPU}} {
		after, err := processCPU(p.pid)
		if err != nil {
			return err
		}
		*p.out += after
	}

	for _, n := range opts.Counts {
		log.Info("starting pods", "pods", n)
		lat, err := startPods(ctx, client, ns.Name, "p"+strconv.Itoa(n), n)
		if err != nil {
			return err
		}
		res.batches = append(res.batches, podsBatch{n: n, latencies: lat})
		if n == opts.Counts[len(opts.Counts)-1] {
			res.busyPods = n
			res.agentBusy, _, _ = processMemory(agent.Process.Pid)
			res.containerdBusy, _, _ = processMemory(containerd())
			res.shimsBusy = shimMemory()
		}
		if err := deletePods(ctx, client, ns.Name); err != nil {
			return err
		}
	}
	res.write(w)
	return nil
}

// startPods creates n pause pods at once and returns, for each, the time from its create
// request to its Ready condition arriving in a watch.
func startPods(ctx context.Context, client kubernetes.Interface, ns, prefix string, n int) (latencies, error) {
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	wch, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer wch.Stop()
	var (
		mu   sync.Mutex
		sent = map[string]time.Time{}
		errs = make(chan error, n)
	)
	for i := range n {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		go func() {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{{Name: "pause", Image: images.PauseImage, ImagePullPolicy: corev1.PullIfNotPresent}},
				},
			}
			mu.Lock()
			sent[name] = time.Now()
			mu.Unlock()
			_, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return nil, fmt.Errorf("create pod: %w", err)
		}
	}
	ready := map[string]time.Duration{}
	timeout := time.After(10 * time.Minute)
	for len(ready) < n {
		select {
		case ev, ok := <-wch.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watch ended with %d of %d pods Ready", len(ready), n)
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || !strings.HasPrefix(pod.Name, prefix+"-") {
				continue
			}
			if _, done := ready[pod.Name]; done || !podReady(pod) {
				continue
			}
			mu.Lock()
			ready[pod.Name] = time.Since(sent[pod.Name])
			mu.Unlock()
		case <-timeout:
			return nil, fmt.Errorf("%d of %d pods Ready after 10 minutes", len(ready), n)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make(latencies, 0, n)
	for _, d := range ready {
		out = append(out, d)
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deletePods deletes every pod of ns and waits until they are gone.
func deletePods(ctx context.Context, client kubernetes.Interface, ns string) error {
	pods := client.CoreV1().Pods(ns)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("pods of %s not gone after 5 minutes", ns)
}

// shimMemory is the resident memory of every containerd-shim-runc-v2 on the machine.
func shimMemory() int64 {
	entries, _ := os.ReadDir("/proc")
	var total int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if strings.HasPrefix(strings.TrimSpace(string(comm)), "containerd-shim") {
			rss, _, _ := processMemory(pid)
			total += rss
		}
	}
	return total
}

type podsBatch struct {
	n         int
	latencies latencies
}

type podsResult struct {
	batches                              []podsBatch
	agentIdle, containerdIdle            int64
	busyPods                             int
	agentBusy, containerdBusy, shimsBusy int64
	idleFor                              time.Duration
	agentCPU, containerdCPU, serverCPU   time.Duration
}

func (r podsResult) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pods\tp50\tp99\tmax\t")
	for _, b := range r.batches {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", b.n, ms(b.latencies.percentile(50)), ms(b.latencies.percentile(99)), ms(b.latencies.percentile(100)))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nmemory (RSS): agent %s idle, %s with %d pods; containerd %s idle, %s with %d pods (+ shims %s)\n",
		mib(r.agentIdle), mib(r.agentBusy), r.busyPods, mib(r.containerdIdle), mib(r.containerdBusy), r.busyPods, mib(r.shimsBusy))
	pct := func(d time.Duration) string { return fmt.Sprintf("%.2f%%", 100*d.Seconds()/r.idleFor.Seconds()) }
	fmt.Fprintf(w, "CPU at idle over %v (of one core): agent %s, containerd %s, server %s\n",
		r.idleFor, pct(r.agentCPU), pct(r.containerdCPU), pct(r.serverCPU))
}
