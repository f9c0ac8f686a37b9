package stats

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/gantryhq/gantry/internal/agent/nodeserver"
)

// The agent's HTTPS API serves /stats/summary from a Provider.
var _ nodeserver.StatsProvider = (*Provider)(nil)

// fakeClock is a settable clock for the provider's now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func sandbox(id, ns, name, uid string, state runtimeapi.PodSandboxState) *critest.FakePodSandbox {
	return &critest.FakePodSandbox{PodSandboxStatus: runtimeapi.PodSandboxStatus{
		Id:        id,
		Metadata:  &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		State:     state,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
	}}
}

func container(id, sandboxID, name string, state runtimeapi.ContainerState) *critest.FakeContainer {
	return &critest.FakeContainer{SandboxID: sandboxID, ContainerStatus: runtimeapi.ContainerStatus{
		Id:        id,
		Metadata:  &runtimeapi.ContainerMetadata{Name: name},
		State:     state,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC).UnixNano(),
	}}
}

// usage is CRI stats of container id as containerd 1.6 gives them: cumulative CPU and the
// working set, no nanocores, no timestamps the test has to keep in step with its clock.
func usage(id, name string, cpuNanos, workingSet uint64) *runtimeapi.ContainerStats {
	return &runtimeapi.ContainerStats{
		Attributes:    &runtimeapi.ContainerAttributes{Id: id, Metadata: &runtimeapi.ContainerMetadata{Name: name}},
		Cpu:           &runtimeapi.CpuUsage{UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpuNanos}},
		Memory:        &runtimeapi.MemoryUsage{WorkingSetBytes: &runtimeapi.UInt64Value{Value: workingSet}},
		WritableLayer: &runtimeapi.FilesystemUsage{UsedBytes: &runtimeapi.UInt64Value{Value: 4096}},
	}
}

// newTestProvider is a Provider on this machine's real cgroups and /proc with a fake runtime
// holding pod default/web (containers app and sidecar), a pod whose sandbox is not ready,
// and an exited container of web.
func newTestProvider(t *testing.T) (*Provider, *critest.FakeRuntimeService, *fakeClock) {
	t.Helper()
	rt := critest.NewFakeRuntimeService()
	rt.SetFakeSandboxes([]*critest.FakePodSandbox{
		sandbox("sb-web", "default", "web", "uid-web", runtimeapi.PodSandboxState_SANDBOX_READY),
		sandbox("sb-gone", "default", "gone", "uid-gone", runtimeapi.PodSandboxState_SANDBOX_NOTREADY),
	})
	rt.SetFakeContainers([]*critest.FakeContainer{
		container("c-app", "sb-web", "app", runtimeapi.ContainerState_CONTAINER_RUNNING),
		container("c-sidecar", "sb-web", "sidecar", runtimeapi.ContainerState_CONTAINER_RUNNING),
		container("c-app-old", "sb-web", "app", runtimeapi.ContainerState_CONTAINER_EXITED),
		container("c-gone", "sb-gone", "main", runtimeapi.ContainerState_CONTAINER_RUNNING),
	})
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)}
	p := NewProvider(rt, "node-1", "/sys/fs/cgroup")
	p.now = clock.Now
	return p, rt, clock
}

func podNamed(t *testing.T, sum *statsv1alpha1.Summary, ns, name string) statsv1alpha1.PodStats {
	t.Helper()
	for _, p := range sum.Pods {
		if p.PodRef.Namespace == ns && p.PodRef.Name == name {
			return p
		}
	}
	t.Fatalf("no pod %s/%s in summary %+v", ns, name, sum.Pods)
	return statsv1alpha1.PodStats{}
}

func nanoCores(t *testing.T, what string, cpu *statsv1alpha1.CPUStats) uint64 {
	t.Helper()
	if cpu == nil || cpu.UsageNanoCores == nil {
		t.Fatalf("%s has no usageNanoCores: %+v", what, cpu)
	}
	return *cpu.UsageNanoCores
}

func TestSummaryPodCPURateFromTwoSamples(t *testing.T) {
	p, rt, clock := newTestProvider(t)
	rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{
		usage("c-app", "app", 1_000_000_000, 100<<20),
		usage("c-sidecar", "sidecar", 2_000_000_000, 20<<20),
		usage("c-gone", "main", 5_000_000_000, 1<<20),
	})
	// The first Summary has no earlier sample: it waits and samples again. In those 100 ms
	// app uses 50 ms of CPU (half a core) and sidecar 10 ms (a tenth).
	waited := 0
	p.wait = func(ctx context.Context, d time.Duration) error {
		waited++
		clock.Step(d)
		rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{
			usage("c-app", "app", 1_050_000_000, 100<<20),
			usage("c-sidecar", "sidecar", 2_010_000_000, 20<<20),
		})
		return nil
	}
	sum, err := p.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if waited != 1 {
		t.Fatalf("first Summary waited %d times, want 1", waited)
	}
	if len(sum.Pods) != 1 {
		t.Fatalf("pods = %+v, want only the ready default/web", sum.Pods)
	}
	web := podNamed(t, sum, "default", "web")
	if web.PodRef.UID != "uid-web" {
		t.Errorf("web's UID = %q, want uid-web", web.PodRef.UID)
	}
	if len(web.Containers) != 2 || web.Containers[0].Name != "app" || web.Containers[1].Name != "sidecar" {
		t.Fatalf("web's containers = %+v, want app and sidecar", web.Containers)
	}
	if got := nanoCores(t, "app", web.Containers[0].CPU); got != 500_000_000 {
		t.Errorf("app nanocores = %d, want 500000000", got)
	}
	if got := nanoCores(t, "sidecar", web.Containers[1].CPU); got != 100_000_000 {
		t.Errorf("sidecar nanocores = %d, want 100000000", got)
	}
	if got := nanoCores(t, "web", web.CPU); got != 600_000_000 {
		t.Errorf("web nanocores = %d, want 600000000", got)
	}
	if got := *web.CPU.UsageCoreNanoSeconds; got != 3_060_000_000 {
		t.Errorf("web usageCoreNanoSeconds = %d, want 3060000000", got)
	}
	if got := *web.Memory.WorkingSetBytes; got != 120<<20 {
		t.Errorf("web working set = %d, want %d", got, 120<<20)
	}
	if r := web.Containers[0].Rootfs; r == nil || r.UsedBytes == nil || *r.UsedBytes != 4096 {
		t.Errorf("app rootfs = %+v, want 4096 bytes used", r)
	}

	// Ten seconds later app has used 2 s more (0.2 cores) and sidecar none; no waiting now.
	clock.Step(10 * time.Second)
	rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{
		usage("c-app", "app", 3_050_000_000, 101<<20),
		usage("c-sidecar", "sidecar", 2_010_000_000, 20<<20),
	})
	if sum, err = p.Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited != 1 {
		t.Errorf("a Summary with earlier samples waited (%d waits in all)", waited)
	}
	web = podNamed(t, sum, "default", "web")
	if got := nanoCores(t, "app", web.Containers[0].CPU); got != 200_000_000 {
		t.Errorf("app nanocores = %d, want 200000000", got)
	}
	if got := nanoCores(t, "sidecar", web.Containers[1].CPU); got != 0 {
		t.Errorf("idle sidecar nanocores = %d, want 0", got)
	}
	if got := nanoCores(t, "web", web.CPU); got != 200_000_000 {
		t.Errorf("web nanocores = %d, want 200000000", got)
	}
}

// Nanocores the runtime computes itself are passed on, with no waiting for a second sample.
func TestSummaryUsesRuntimeNanoCores(t *testing.T) {
	p, rt, clock := newTestProvider(t)
	rt.SetFakeContainers([]*critest.FakeContainer{container("c-app", "sb-web", "app", runtimeapi.ContainerState_CONTAINER_RUNNING)})
	s := usage("c-app", "app", 1_000_000_000, 1<<20)
	s.Cpu.UsageNanoCores = &runtimeapi.UInt64Value{Value: 123_456}
	rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{s})
	// Take the node's baseline so that only the containers decide about waiting.
	p.wait = func(context.Context, time.Duration) error { clock.Step(time.Second); return nil }
	if _, err := p.Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.wait = func(context.Context, time.Duration) error {
		t.Error("Summary waited although the runtime gave nanocores")
		return nil
	}
	clock.Step(time.Second)
	sum, err := p.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	web := podNamed(t, sum, "default", "web")
	if got := nanoCores(t, "app", web.Containers[0].CPU); got != 123_456 {
		t.Errorf("app nanocores = %d, want the runtime's 123456", got)
	}
}

// Concurrent Summaries at the same instant all report the same rate: the later ones are not
// compared with the sample the first one just took.
func TestSummaryConcurrentCallersAgree(t *testing.T) {
	p, rt, clock := newTestProvider(t)
	rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{usage("c-app", "app", 0, 1), usage("c-sidecar", "sidecar", 0, 1)})
	p.wait = func(context.Context, time.Duration) error { clock.Step(time.Second); return nil }
	if _, err := p.Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Step(4 * time.Second)
	rt.SetFakeContainerStats([]*runtimeapi.ContainerStats{usage("c-app", "app", 1_000_000_000, 1), usage("c-sidecar", "sidecar", 0, 1)})

	const callers = 8
	got := make([]uint64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			sum, err := p.Summary(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			web := podNamed(t, sum, "default", "web")
			if web.Containers[0].CPU.UsageNanoCores != nil {
				got[i] = *web.Containers[0].CPU.UsageNanoCores
			}
		})
	}
	wg.Wait()
	for i, v := range got {
		if v != 250_000_000 {
			t.Errorf("caller %d: app nanocores = %d, want 250000000", i, v)
		}
	}
}

// The node's figures come from this machine's root cgroup, /proc and "/".
func TestSummaryNodeFromThisMachine(t *testing.T) {
	rt := critest.NewFakeRuntimeService()
	p := NewProvider(rt, "node-1", "/sys/fs/cgroup")
	before := time.Now()
	sum, err := p.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := sum.Node
	if n.NodeName != "node-1" {
		t.Errorf("nodeName = %q, want node-1", n.NodeName)
	}
	if !n.StartTime.Time.Before(before) || n.StartTime.Year() < 2000 {
		t.Errorf("startTime %v is not a boot time before %v", n.StartTime, before)
	}
	if n.CPU == nil || n.CPU.UsageCoreNanoSeconds == nil || *n.CPU.UsageCoreNanoSeconds == 0 {
		t.Fatalf("node CPU = %+v, want cumulative usage > 0", n.CPU)
	}
	// The test itself runs, so usage is above zero; the window's ends are timed just after
	// each read, so allow some slack over all cores busy.
	cores := nanoCores(t, "node", n.CPU)
	if limit := uint64(runtime.NumCPU()) * 1_250_000_000; cores == 0 || cores > limit {
		t.Errorf("node nanocores = %d, want in (0, %d]", cores, limit)
	}
	memTotal, err := memTotalBytes("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	m := n.Memory
	if m == nil || m.WorkingSetBytes == nil || m.UsageBytes == nil || m.AvailableBytes == nil || m.RSSBytes == nil {
		t.Fatalf("node memory = %+v, want working set, usage, available and RSS", m)
	}
	ws := *m.WorkingSetBytes
	if ws == 0 || ws > memTotal || ws > *m.UsageBytes {
		t.Errorf("node working set = %d, want in (0, min(MemTotal %d, usage %d)]", ws, memTotal, *m.UsageBytes)
	}
	if *m.AvailableBytes != memTotal-ws {
		t.Errorf("node available = %d, want MemTotal-workingSet = %d", *m.AvailableBytes, memTotal-ws)
	}
	fs := n.Fs
	if fs == nil || *fs.CapacityBytes == 0 || *fs.UsedBytes > *fs.CapacityBytes || *fs.AvailableBytes > *fs.CapacityBytes {
		t.Errorf("node fs = %+v, want used and available within a non-zero capacity", fs)
	}
	if len(sum.Pods) != 0 {
		t.Errorf("pods = %+v, want none from an empty runtime", sum.Pods)
	}
}
