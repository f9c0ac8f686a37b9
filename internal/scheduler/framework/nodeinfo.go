package framework

import (
	"hash/fnv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultBindAllHostIP is the host IP a port binds when it names none.
const DefaultBindAllHostIP = "0.0.0.0"

// NodeInfo is a node with the aggregates of the pods placed on it. Placement code only reads
// it; Snapshot maintains it, and preemption works on a Clone.
type NodeInfo struct {
	// Node is nil while the node is only known through pods bound to it (the informer has
	// not delivered the node yet, or has already deleted it). Such nodes are never listed.
	Node *v1.Node
	Name string
	// Allocatable is node.status.allocatable (capacity when allocatable is missing).
	Allocatable Resource
	// Requested sums the Requests of the pods on the node.
	Requested Resource
	// NonZeroMilliCPU and NonZeroMemory sum the pods' non-zero requests, for scoring.
	NonZeroMilliCPU, NonZeroMemory int64
	Pods                           []*PodInfo
	// UsedPorts counts the pods holding each host port.
	UsedPorts map[HostPort]int
	// Taints are the node's taints plus those the node lifecycle controller derives from its
	// conditions (node.kubernetes.io/not-ready, unreachable, memory-pressure…) when missing:
	// a node that is not Ready repels pods that do not tolerate not-ready, as upstream.
	Taints []v1.Taint
	// Images maps the normalized names of the images present on the node to their size.
	Images map[string]int64

	// NameHash is a hash of Name, for reproducible tie-breaking.
	NameHash uint64

	index int // position in Snapshot.nodes, -1 when not listed
}

func newNodeInfo(name string) *NodeInfo {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &NodeInfo{Name: name, NameHash: h.Sum64(), index: -1}
}

// AddPod accounts pi to the node. Only Snapshot and preemption's clones call it.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	n.Requested.add(&pi.Requests, 1)
	n.NonZeroMilliCPU += pi.NonZeroMilliCPU
	n.NonZeroMemory += pi.NonZeroMemory
	for _, p := range pi.Ports {
		if n.UsedPorts == nil {
			n.UsedPorts = map[HostPort]int{}
		}
		n.UsedPorts[p]++
	}
}

// RemovePod removes the pod with uid and reports whether it was there.
func (n *NodeInfo) RemovePod(uid types.UID) (*PodInfo, bool) {
	for i, pi := range n.Pods {
		if pi.Pod.UID != uid {
			continue
		}
		last := len(n.Pods) - 1
		n.Pods[i] = n.Pods[last]
		n.Pods[last] = nil
		n.Pods = n.Pods[:last]
		n.Requested.add(&pi.Requests, -1)
		n.NonZeroMilliCPU -= pi.NonZeroMilliCPU
		n.NonZeroMemory -= pi.NonZeroMemory
		for _, p := range pi.Ports {
			if n.UsedPorts[p] <= 1 {
				delete(n.UsedPorts, p)
			} else {
				n.UsedPorts[p]--
			}
		}
		return pi, true
	}
	return nil, false
}

// PortConflict reports whether host port p is taken on the node, with the upstream rule that
// 0.0.0.0 conflicts with every IP.
func (n *NodeInfo) PortConflict(p HostPort) bool {
	if len(n.UsedPorts) == 0 {
		return false
	}
	if p.IP == DefaultBindAllHostIP {
		for used := range n.UsedPorts {
			if used.Port == p.Port && used.Protocol == p.Protocol {
				return true
			}
		}
		return false
	}
	if n.UsedPorts[p] > 0 {
		return true
	}
	any := p
	any.IP = DefaultBindAllHostIP
	return n.UsedPorts[any] > 0
}

// Clone returns a copy whose pods and aggregates may be changed without touching n.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Pods = append([]*PodInfo(nil), n.Pods...)
	c.Requested = n.Requested.Clone()
	if n.UsedPorts != nil {
		c.UsedPorts = make(map[HostPort]int, len(n.UsedPorts))
		for k, v := range n.UsedPorts {
			c.UsedPorts[k] = v
		}
	}
	return &c
}

// Labels returns the node's labels (nil for an unknown node).
func (n *NodeInfo) Labels() map[string]string {
	if n.Node == nil {
		return nil
	}
	return n.Node.Labels
}

// setNode records node and derives what placement reads from it.
func (n *NodeInfo) setNode(node *v1.Node) {
	n.Node = node
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	n.Allocatable = NewResource(alloc)
	n.Taints = effectiveTaints(node)
	n.Images = nil
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if n.Images == nil {
				n.Images = map[string]int64{}
			}
			n.Images[NormalizedImageName(name)] = img.SizeBytes
		}
	}
}

// Taints the node lifecycle controller puts on nodes by condition (TaintNodesByCondition).
const (
	TaintNodeNotReady           = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable        = "node.kubernetes.io/unreachable"
	TaintNodeUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintNodeMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintNodeDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintNodePIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNodeNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// effectiveTaints adds to the node's taints the NoSchedule taints its conditions call for,
// so that a node that is not Ready (or under pressure) is filtered exactly as upstream filters
// it once the node lifecycle controller has tainted it — tolerations included.
func effectiveTaints(node *v1.Node) []v1.Taint {
	var implied []string
	ready := false
	for _, c := range node.Status.Conditions {
		switch c.Type {
		case v1.NodeReady:
			switch c.Status {
			case v1.ConditionTrue:
				ready = true
			case v1.ConditionUnknown:
				implied = append(implied, TaintNodeUnreachable)
				ready = true // reported through unreachable
			}
		case v1.NodeMemoryPressure:
			if c.Status == v1.ConditionTrue {
				implied = append(implied, TaintNodeMemoryPressure)
			}
		case v1.NodeDiskPressure:
			if c.Status == v1.ConditionTrue {
				implied = append(implied, TaintNodeDiskPressure)
			}
		case v1.NodePIDPressure:
			if c.Status == v1.ConditionTrue {
				implied = append(implied, TaintNodePIDPressure)
			}
		case v1.NodeNetworkUnavailable:
			if c.Status == v1.ConditionTrue {
				implied = append(implied, TaintNodeNetworkUnavailable)
			}
		}
	}
	if !ready {
		implied = append(implied, TaintNodeNotReady)
	}
	if len(implied) == 0 {
		return node.Spec.Taints
	}
	taints := append([]v1.Taint(nil), node.Spec.Taints...)
next:
	for _, key := range implied {
		for _, t := range node.Spec.Taints {
			if t.Key == key && (t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute) {
				continue next
			}
		}
		taints = append(taints, v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule})
	}
	return taints
}
