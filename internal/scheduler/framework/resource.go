package framework

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Resource is an amount of the resources a node offers and pods request, in the units the
// scheduler compares: milli-CPU, bytes, and plain counts for everything else.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPods is only meaningful for a node's allocatable: how many pods it may run.
	AllowedPods int64
	// Scalar holds extended resources (example.com/gpu), hugepages and attachable volumes.
	Scalar map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(list v1.ResourceList) Resource {
	var r Resource
	r.Add(list)
	return r
}

// Add adds the quantities of list to r.
func (r *Resource) Add(list v1.ResourceList) {
	for name, q := range list {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPods += q.Value()
		default:
			if IsScalarResourceName(name) {
				if r.Scalar == nil {
					r.Scalar = map[v1.ResourceName]int64{}
				}
				r.Scalar[name] += q.Value()
			}
		}
	}
}

// add adds sign×o to r.
func (r *Resource) add(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[name] += sign * v
	}
}

// IsZero reports whether r requests nothing.
func (r *Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	if r.Scalar != nil {
		s := make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			s[k] = v
		}
		r.Scalar = s
	}
	return r
}

// IsScalarResourceName reports whether name is counted among Resource.Scalar: extended
// resources (a domain-prefixed name outside kubernetes.io), hugepages, attachable volumes and
// kubernetes.io-prefixed native resources, as k8s.io/kubernetes/pkg/scheduler/util does.
func IsScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	switch {
	case strings.HasPrefix(s, v1.ResourceHugePagesPrefix), strings.HasPrefix(s, v1.ResourceAttachableVolumesPrefix):
		return true
	case strings.Contains(s, v1.ResourceDefaultNamespacePrefix):
		return true
	}
	return strings.Contains(s, "/") && !strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix)
}
