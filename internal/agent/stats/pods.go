package stats

import (
	"context"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// podStats is the usage of the ready sandboxes' running containers, from CRI; baselined
// says some container's CPU rate is missing because this was its first sample.
func (p *Provider) podStats(ctx context.Context) ([]statsv1alpha1.PodStats, bool, error) {
	sandboxes, err := p.rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	})
	if err != nil {
		return nil, false, fmt.Errorf("list pod sandboxes: %w", err)
	}
	containers, err := p.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	})
	if err != nil {
		return nil, false, fmt.Errorf("list containers: %w", err)
	}
	stats, err := p.rt.ListContainerStats(ctx, &runtimeapi.ContainerStatsFilter{})
	if err != nil {
		return nil, false, fmt.Errorf("list container stats: %w", err)
	}
	statsByID := map[string]*runtimeapi.ContainerStats{}
	for _, s := range stats {
		if s.GetAttributes() != nil {
			statsByID[s.Attributes.Id] = s
		}
	}

	// Container stats do not name their sandbox; the container list does.
	bySandbox := map[string][]*runtimeapi.Container{}
	live := map[string]bool{}
	for _, c := range containers {
		bySandbox[c.PodSandboxId] = append(bySandbox[c.PodSandboxId], c)
		live[c.Id] = true
	}
	p.rates.retain(live)

	baselined := false
	var out []statsv1alpha1.PodStats
	for _, sb := range sandboxes {
		md := sb.GetMetadata()
		if md == nil {
			continue
		}
		pod := statsv1alpha1.PodStats{
			PodRef:     statsv1alpha1.PodReference{Name: md.Name, Namespace: md.Namespace, UID: md.Uid},
			StartTime:  metav1.NewTime(time.Unix(0, sb.CreatedAt)),
			Containers: []statsv1alpha1.ContainerStats{},
		}
		for _, c := range bySandbox[sb.Id] {
			s, ok := statsByID[c.Id]
			if !ok {
				continue
			}
			cs, hasRate := p.containerStats(c, s)
			baselined = baselined || !hasRate
			pod.Containers = append(pod.Containers, cs)
		}
		sort.Slice(pod.Containers, func(i, j int) bool { return pod.Containers[i].Name < pod.Containers[j].Name })
		pod.CPU, pod.Memory = podTotals(pod.Containers)
		out = append(out, pod)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].PodRef, out[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, baselined, nil
}

// containerStats converts one container's CRI stats. CPU nanocores are the runtime's when it
// gives them, else the rate since this container's previous sample; hasRate is false when
// there is neither.
func (p *Provider) containerStats(c *runtimeapi.Container, s *runtimeapi.ContainerStats) (statsv1alpha1.ContainerStats, bool) {
	name := s.Attributes.GetMetadata().GetName()
	if name == "" {
		name = c.GetMetadata().GetName()
	}
	out := statsv1alpha1.ContainerStats{Name: name, StartTime: metav1.NewTime(time.Unix(0, c.CreatedAt))}
	hasRate := true
	if cpu := s.GetCpu(); cpu != nil {
		at := p.sampleTime(cpu.Timestamp)
		out.CPU = &statsv1alpha1.CPUStats{Time: metav1.NewTime(at)}
		if v := cpu.GetUsageCoreNanoSeconds(); v != nil {
			out.CPU.UsageCoreNanoSeconds = ptr(v.Value)
		}
		switch {
		case cpu.GetUsageNanoCores() != nil:
			out.CPU.UsageNanoCores = ptr(cpu.UsageNanoCores.Value)
		case cpu.GetUsageCoreNanoSeconds() != nil:
			var rate uint64
			rate, hasRate = p.rates.update(c.Id, at, cpu.UsageCoreNanoSeconds.Value)
			if hasRate {
				out.CPU.UsageNanoCores = ptr(rate)
			}
		default:
			hasRate = false
		}
	}
	if mem := s.GetMemory(); mem != nil {
		out.Memory = &statsv1alpha1.MemoryStats{
			Time:            metav1.NewTime(p.sampleTime(mem.Timestamp)),
			AvailableBytes:  uint64Value(mem.AvailableBytes),
			UsageBytes:      uint64Value(mem.UsageBytes),
			WorkingSetBytes: uint64Value(mem.WorkingSetBytes),
			RSSBytes:        uint64Value(mem.RssBytes),
			PageFaults:      uint64Value(mem.PageFaults),
			MajorPageFaults: uint64Value(mem.MajorPageFaults),
		}
	}
	if fs := s.GetWritableLayer(); fs != nil {
		out.Rootfs = &statsv1alpha1.FsStats{
			Time:       metav1.NewTime(p.sampleTime(fs.Timestamp)),
			UsedBytes:  uint64Value(fs.UsedBytes),
			InodesUsed: uint64Value(fs.InodesUsed),
		}
	}
	return out, hasRate
}

// sampleTime is when the runtime says it sampled (nanoseconds since the epoch), or now
// when it does not say.
func (p *Provider) sampleTime(ns int64) time.Time {
	if ns == 0 {
		return p.now()
	}
	return time.Unix(0, ns)
}

func uint64Value(v *runtimeapi.UInt64Value) *uint64 {
	if v == nil {
		return nil
	}
	return ptr(v.Value)
}

// podTotals sums the containers' CPU and memory into the pod's; a figure some container
// lacks is left out of the pod's, which would otherwise understate it.
func podTotals(containers []statsv1alpha1.ContainerStats) (*statsv1alpha1.CPUStats, *statsv1alpha1.MemoryStats) {
	if len(containers) == 0 {
		return nil, nil
	}
	cpu := &statsv1alpha1.CPUStats{UsageNanoCores: ptr[uint64](0), UsageCoreNanoSeconds: ptr[uint64](0)}
	mem := &statsv1alpha1.MemoryStats{WorkingSetBytes: ptr[uint64](0), UsageBytes: ptr[uint64](0), RSSBytes: ptr[uint64](0)}
	for _, c := range containers {
		if c.CPU == nil {
			cpu.UsageNanoCores, cpu.UsageCoreNanoSeconds = nil, nil
		} else {
			if c.CPU.Time.After(cpu.Time.Time) {
				cpu.Time = c.CPU.Time
			}
			cpu.UsageNanoCores = add(cpu.UsageNanoCores, c.CPU.UsageNanoCores)
			cpu.UsageCoreNanoSeconds = add(cpu.UsageCoreNanoSeconds, c.CPU.UsageCoreNanoSeconds)
		}
		if c.Memory == nil {
			mem.WorkingSetBytes, mem.UsageBytes, mem.RSSBytes = nil, nil, nil
		} else {
			if c.Memory.Time.After(mem.Time.Time) {
				mem.Time = c.Memory.Time
			}
			mem.WorkingSetBytes = add(mem.WorkingSetBytes, c.Memory.WorkingSetBytes)
			mem.UsageBytes = add(mem.UsageBytes, c.Memory.UsageBytes)
			mem.RSSBytes = add(mem.RSSBytes, c.Memory.RSSBytes)
		}
	}
	return cpu, mem
}

// add is sum+v, or nil when either is missing.
func add(sum, v *uint64) *uint64 {
	if sum == nil || v == nil {
		return nil
	}
	return ptr(*sum + *v)
}
