package filter

import (
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Reasons of NodeResourcesFit, as upstream words them.
const (
	ErrReasonTooManyPods = "Too many pods"
)

var (
	statusTooManyPods = framework.NewStatus(framework.Unschedulable, ErrReasonTooManyPods)
	statusCPU         = framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	statusMemory      = framework.NewStatus(framework.Unschedulable, "Insufficient memory")
	statusCPUForever  = framework.NewStatus(framework.UnschedulableAndUnresolvable, "Insufficient cpu")
	statusMemForever  = framework.NewStatus(framework.UnschedulableAndUnresolvable, "Insufficient memory")
)

// NodeResourcesFit checks the pod's requests (cpu, memory, ephemeral-storage, extended
// resources, and one more pod) against the node's allocatable minus what its pods request.
// A request larger than the whole node is UnschedulableAndUnresolvable: no eviction helps.
type NodeResourcesFit struct{}

// Name implements framework.Filter.
func (NodeResourcesFit) Name() string { return NodeResourcesFitName }

// PreFilter implements framework.Filter.
func (NodeResourcesFit) PreFilter(*framework.PodInfo, *framework.Snapshot) (any, bool, *framework.Status) {
	return nil, false, nil
}

// Filter implements framework.Filter.
func (NodeResourcesFit) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	return Fits(pod, node)
}

// Fits is the check itself, exported for preemption and tests.
func Fits(pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	req, alloc, used := &pod.Requests, &node.Allocatable, &node.Requested
	tooMany := int64(len(node.Pods))+1 > alloc.AllowedPods
	cpu := req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU
	mem := req.Memory > 0 && req.Memory > alloc.Memory-used.Memory
	eph := req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage
	scalar := false
	for name, q := range req.Scalar {
		if q > 0 && q > alloc.Scalar[name]-used.Scalar[name] {
			scalar = true
			break
		}
	}
	if !tooMany && !cpu && !mem && !eph && !scalar {
		return nil
	}
	// The common single-reason cases share their statuses; the rest build one.
	if !tooMany && !eph && !scalar && cpu != mem {
		if cpu {
			if req.MilliCPU > alloc.MilliCPU {
				return statusCPUForever
			}
			return statusCPU
		}
		if req.Memory > alloc.Memory {
			return statusMemForever
		}
		return statusMemory
	}
	if tooMany && !cpu && !mem && !eph && !scalar {
		return statusTooManyPods
	}
	code := framework.Unschedulable
	var reasons []string
	add := func(reason string, unresolvable bool) {
		reasons = append(reasons, reason)
		if unresolvable {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	if tooMany {
		add(ErrReasonTooManyPods, false)
	}
	if cpu {
		add("Insufficient cpu", req.MilliCPU > alloc.MilliCPU)
	}
	if mem {
		add("Insufficient memory", req.Memory > alloc.Memory)
	}
	if eph {
		add("Insufficient ephemeral-storage", req.EphemeralStorage > alloc.EphemeralStorage)
	}
	if scalar {
		names := make([]v1.ResourceName, 0, len(req.Scalar))
		for name := range req.Scalar {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		for _, name := range names {
			q := req.Scalar[name]
			if q > 0 && q > alloc.Scalar[name]-used.Scalar[name] {
				add(fmt.Sprintf("Insufficient %v", name), q > alloc.Scalar[name])
			}
		}
	}
	return framework.NewStatus(code, reasons...)
}
