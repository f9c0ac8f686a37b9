package stats

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cri "k8s.io/cri-api/pkg/apis"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// baselineGap is how long a Summary with no earlier sample to compare with waits before
// sampling again, so that the first `kubectl top` already has CPU figures.
const baselineGap = 100 * time.Millisecond

// Provider computes the node's stats/v1alpha1 Summary: the node's figures from the root
// cgroup, /proc and statfs of "/", the pods' from CRI. It is safe for concurrent use.
type Provider struct {
	rt         cri.RuntimeService
	nodeName   string
	cgroupRoot string
	procRoot   string
	fsRoot     string
	rates      *rateCache

	// now and wait are time.Now and a context-aware sleep; tests replace them.
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
}

// NewProvider returns a Provider for the node nodeName whose containers rt runs, reading
// cgroups under cgroupRoot (normally /sys/fs/cgroup).
func NewProvider(rt cri.RuntimeService, nodeName string, cgroupRoot string) *Provider {
	return &Provider{
		rt:         rt,
		nodeName:   nodeName,
		cgroupRoot: cgroupRoot,
		procRoot:   "/proc",
		fsRoot:     "/",
		rates:      newRateCache(),
		now:        time.Now,
		wait:       sleep,
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Summary is the node's and its ready pods' resource usage now. CPU usage in nanocores
// is the rate since the previous Summary; when there is none yet (the first call, or new
// containers whose runtime does not give a rate itself) Summary takes a baseline and samples
// again baselineGap later.
func (p *Provider) Summary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	sum, baselined, err := p.collect(ctx)
	if err != nil || !baselined {
		return sum, err
	}
	if err := p.wait(ctx, baselineGap); err != nil {
		return nil, fmt.Errorf("wait for a second sample: %w", err)
	}
	sum, _, err = p.collect(ctx)
	return sum, err
}

// collect takes one sample of everything; baselined says some CPU rate is missing because
// this was its first sample.
func (p *Provider) collect(ctx context.Context) (*statsv1alpha1.Summary, bool, error) {
	node, nodeBaselined, err := p.nodeStats()
	if err != nil {
		return nil, false, err
	}
	pods, podsBaselined, err := p.podStats(ctx)
	if err != nil {
		return nil, false, err
	}
	return &statsv1alpha1.Summary{Node: node, Pods: pods}, nodeBaselined || podsBaselined, nil
}

// nodeStats reads the root cgroup, the root filesystem and the boot time.
func (p *Provider) nodeStats() (statsv1alpha1.NodeStats, bool, error) {
	meminfo := filepath.Join(p.procRoot, "meminfo")
	usage, err := readRootCgroup(p.cgroupRoot, meminfo)
	if err != nil {
		return statsv1alpha1.NodeStats{}, false, fmt.Errorf("read node cgroup: %w", err)
	}
	at := p.now()
	memTotal, err := memTotalBytes(meminfo)
	if err != nil {
		return statsv1alpha1.NodeStats{}, false, err
	}
	boot, err := bootTime(filepath.Join(p.procRoot, "stat"))
	if err != nil {
		return statsv1alpha1.NodeStats{}, false, err
	}
	fs, err := statfs(p.fsRoot)
	if err != nil {
		return statsv1alpha1.NodeStats{}, false, err
	}
	ts := metav1.NewTime(at)

	cpu := &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: ptr(usage.cpuNanos)}
	rate, hasRate := p.rates.update(nodeKey, at, usage.cpuNanos)
	if hasRate {
		cpu.UsageNanoCores = ptr(rate)
	}

	workingSet := usage.workingSet()
	var available uint64
	if memTotal > workingSet {
		available = memTotal - workingSet
	}
	return statsv1alpha1.NodeStats{
		NodeName:  p.nodeName,
		StartTime: metav1.NewTime(boot),
		CPU:       cpu,
		Memory: &statsv1alpha1.MemoryStats{
			Time:            ts,
			AvailableBytes:  ptr(available),
			UsageBytes:      ptr(usage.memUsage),
			WorkingSetBytes: ptr(workingSet),
			RSSBytes:        ptr(usage.rss),
			PageFaults:      ptr(usage.pageFaults),
			MajorPageFaults: ptr(usage.majorPageFaults),
		},
		Fs: &statsv1alpha1.FsStats{
			Time:           ts,
			CapacityBytes:  ptr(fs.capacity),
			AvailableBytes: ptr(fs.available),
			UsedBytes:      ptr(fs.used),
			Inodes:         ptr(fs.inodes),
			InodesFree:     ptr(fs.inodesFree),
			InodesUsed:     ptr(fs.inodes - fs.inodesFree),
		},
	}, !hasRate, nil
}

func ptr[T any](v T) *T { return &v }
