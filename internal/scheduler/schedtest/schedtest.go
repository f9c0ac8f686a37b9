// Package schedtest builds the nodes, pods and snapshots the scheduler's tests place pods on.
package schedtest

import (
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// NodeWrapper builds a v1.Node.
type NodeWrapper struct{ v1.Node }

// Node is a Ready node with 4 CPUs, 8 GiB, 100 GiB of ephemeral storage, room for 110 pods
// and the hostname label.
func Node(name string) *NodeWrapper {
	n := &NodeWrapper{v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}}
	return n.Capacity("4", "8Gi", "110")
}

// Capacity sets capacity and allocatable.
func (n *NodeWrapper) Capacity(cpu, mem, pods string) *NodeWrapper {
	l := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse(cpu),
		v1.ResourceMemory:           resource.MustParse(mem),
		v1.ResourcePods:             resource.MustParse(pods),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	n.Status.Capacity, n.Status.Allocatable = l, l.DeepCopy()
	return n
}

// Resource sets one allocatable (and capacity) quantity.
func (n *NodeWrapper) Resource(name v1.ResourceName, q string) *NodeWrapper {
	n.Status.Capacity[name] = resource.MustParse(q)
	n.Status.Allocatable[name] = resource.MustParse(q)
	return n
}

// Label sets a label.
func (n *NodeWrapper) Label(k, v string) *NodeWrapper {
	n.Labels[k] = v
	return n
}

// Zone sets topology.kubernetes.io/zone.
func (n *NodeWrapper) Zone(z string) *NodeWrapper { return n.Label(v1.LabelTopologyZone, z) }

// Taint adds a taint.
func (n *NodeWrapper) Taint(key, value string, effect v1.TaintEffect) *NodeWrapper {
	n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	return n
}

// Unschedulable cordons the node.
func (n *NodeWrapper) Unschedulable() *NodeWrapper {
	n.Spec.Unschedulable = true
	return n
}

// Ready sets the Ready condition's status.
func (n *NodeWrapper) Ready(s v1.ConditionStatus) *NodeWrapper {
	n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: s}}
	return n
}

// Image records an image present on the node.
func (n *NodeWrapper) Image(name string, size int64) *NodeWrapper {
	n.Status.Images = append(n.Status.Images, v1.ContainerImage{Names: []string{name}, SizeBytes: size})
	return n
}

// Obj returns the node.
func (n *NodeWrapper) Obj() *v1.Node { return &n.Node }

// PodWrapper builds a v1.Pod.
type PodWrapper struct{ v1.Pod }

// Pod is a pod of namespace default, UID = name, with one container "c" (image "img")
// requesting nothing.
func Pod(name string) *PodWrapper {
	return &PodWrapper{v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{},
			CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0))},
		Spec: v1.PodSpec{
			SchedulerName: v1.DefaultSchedulerName,
			Containers:    []v1.Container{{Name: "c", Image: "img"}},
		},
	}}
}

// Namespace sets the namespace.
func (p *PodWrapper) Namespace(ns string) *PodWrapper {
	p.Pod.Namespace = ns
	return p
}

// Label sets a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	p.Labels[k] = v
	return p
}

// Req sets the first container's requests (empty strings are left out).
func (p *PodWrapper) Req(cpu, mem string) *PodWrapper {
	p.Spec.Containers[0].Resources.Requests = list(cpu, mem)
	return p
}

// ReqResource adds one request to the first container.
func (p *PodWrapper) ReqResource(name v1.ResourceName, q string) *PodWrapper {
	c := &p.Spec.Containers[0]
	if c.Resources.Requests == nil {
		c.Resources.Requests = v1.ResourceList{}
	}
	c.Resources.Requests[name] = resource.MustParse(q)
	return p
}

// Container adds a container with requests.
func (p *PodWrapper) Container(name, image, cpu, mem string) *PodWrapper {
	p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: name, Image: image, Resources: v1.ResourceRequirements{Requests: list(cpu, mem)}})
	return p
}

// Init adds an init container; sidecar makes it restartable (restartPolicy Always).
func (p *PodWrapper) Init(name, cpu, mem string, sidecar bool) *PodWrapper {
	c := v1.Container{Name: name, Image: "init", Resources: v1.ResourceRequirements{Requests: list(cpu, mem)}}
	if sidecar {
		always := v1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	return p
}

// Overhead sets the pod overhead.
func (p *PodWrapper) Overhead(cpu, mem string) *PodWrapper {
	p.Spec.Overhead = list(cpu, mem)
	return p
}

// Image sets the first container's image.
func (p *PodWrapper) Image(img string) *PodWrapper {
	p.Spec.Containers[0].Image = img
	return p
}

// Node binds the pod.
func (p *PodWrapper) Node(name string) *PodWrapper {
	p.Spec.NodeName = name
	return p
}

// Priority sets spec.priority.
func (p *PodWrapper) Priority(v int32) *PodWrapper {
	p.Spec.Priority = &v
	return p
}

// PreemptNever sets preemptionPolicy Never.
func (p *PodWrapper) PreemptNever() *PodWrapper {
	never := v1.PreemptNever
	p.Spec.PreemptionPolicy = &never
	return p
}

// HostPort adds a host port to the first container.
func (p *PodWrapper) HostPort(port int32, ip string) *PodWrapper {
	p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: port, HostPort: port, HostIP: ip, Protocol: v1.ProtocolTCP})
	return p
}

// NodeSelector sets spec.nodeSelector.
func (p *PodWrapper) NodeSelector(kv ...string) *PodWrapper {
	p.Spec.NodeSelector = pairs(kv)
	return p
}

func (p *PodWrapper) affinity() *v1.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	return p.Spec.Affinity
}

// NodeAffinityIn requires label key to be one of values.
func (p *PodWrapper) NodeAffinityIn(key string, values ...string) *PodWrapper {
	a := p.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}},
	}}}
	return p
}

// NodeNameIn requires the node's name to be one of names, through matchFields on
// metadata.name, as DaemonSet pods do.
func (p *PodWrapper) NodeNameIn(names ...string) *PodWrapper {
	a := p.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: names}},
	}}}
	return p
}

// PreferNode prefers nodes whose label key is value, with weight.
func (p *PodWrapper) PreferNode(weight int32, key, value string) *PodWrapper {
	a := p.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.PreferredSchedulingTerm{Weight: weight, Preference: v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: []string{value}}},
		}})
	return p
}

// Toleration adds a toleration (operator Equal, or Exists when value is "").
func (p *PodWrapper) Toleration(key, value string, effect v1.TaintEffect) *PodWrapper {
	t := v1.Toleration{Key: key, Value: value, Effect: effect, Operator: v1.TolerationOpEqual}
	if value == "" {
		t.Operator = v1.TolerationOpExists
	}
	p.Spec.Tolerations = append(p.Spec.Tolerations, t)
	return p
}

func term(topologyKey string, kv []string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: &metav1.LabelSelector{MatchLabels: pairs(kv)}}
}

// Affinity adds a required pod affinity term selecting labels kv.
func (p *PodWrapper) Affinity(topologyKey string, kv ...string) *PodWrapper {
	a := p.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &v1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, kv))
	return p
}

// AntiAffinity adds a required pod anti-affinity term selecting labels kv.
func (p *PodWrapper) AntiAffinity(topologyKey string, kv ...string) *PodWrapper {
	a := p.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, kv))
	return p
}

// PreferAffinity adds a preferred pod affinity term (negative weight: anti-affinity).
func (p *PodWrapper) PreferAffinity(weight int32, topologyKey string, kv ...string) *PodWrapper {
	a := p.affinity()
	if weight >= 0 {
		if a.PodAffinity == nil {
			a.PodAffinity = &v1.PodAffinity{}
		}
		a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(topologyKey, kv)})
		return p
	}
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: -weight, PodAffinityTerm: term(topologyKey, kv)})
	return p
}

// Spread adds a topology spread constraint selecting labels kv.
func (p *PodWrapper) Spread(maxSkew int32, topologyKey string, when v1.UnsatisfiableConstraintAction, kv ...string) *PodWrapper {
	p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: pairs(kv)},
	})
	return p
}

// Owner sets a controller owner reference.
func (p *PodWrapper) Owner(uid string) *PodWrapper {
	yes := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: uid, UID: types.UID(uid), Controller: &yes}}
	return p
}

// Terminating sets a deletion timestamp.
func (p *PodWrapper) Terminating() *PodWrapper {
	now := metav1.NewTime(time.Unix(1_700_000_100, 0))
	p.DeletionTimestamp = &now
	return p
}

// StartTime sets status.startTime (seconds after an arbitrary epoch).
func (p *PodWrapper) StartTime(sec int64) *PodWrapper {
	t := metav1.NewTime(time.Unix(1_700_000_000+sec, 0))
	p.Status.StartTime = &t
	return p
}

// NominatedNode sets status.nominatedNodeName.
func (p *PodWrapper) NominatedNode(n string) *PodWrapper {
	p.Status.NominatedNodeName = n
	return p
}

// Obj returns the pod.
func (p *PodWrapper) Obj() *v1.Pod { return &p.Pod }

// Info parses the pod as a pending pod.
func (p *PodWrapper) Info() *framework.PodInfo {
	return framework.NewPendingPodInfo(&p.Pod, priority(&p.Pod))
}

// Snapshot builds a snapshot of nodes and the bound pods.
func Snapshot(nodes []*v1.Node, pods []*v1.Pod) *framework.Snapshot {
	s := framework.NewSnapshot()
	for _, n := range nodes {
		s.SetNode(n)
	}
	for _, p := range pods {
		s.AddPod(framework.NewPodInfo(p, priority(p)))
	}
	return s
}

func priority(p *v1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func list(cpu, mem string) v1.ResourceList {
	l := v1.ResourceList{}
	if cpu != "" {
		l[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[v1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
