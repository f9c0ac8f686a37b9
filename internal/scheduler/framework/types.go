package framework

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Defaults the scoring of resources assumes for a container that requests no CPU or memory,
// so that best-effort pods do not all pile onto one node (upstream's schedutil values).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// PodInfo is a pod parsed once for scheduling: what it requests, which ports it holds and
// its affinity terms. The Pod it points to is shared with the informer cache and must not be
// modified; a PodInfo itself is immutable once built.
type PodInfo struct {
	Pod *v1.Pod
	// Priority is the pod's spec.priority, or what its PriorityClass resolved to.
	Priority int32
	// Requests is what the pod takes from its node: the larger of the longest init container
	// and the sum of the app containers and sidecars, plus pod overhead (or the pod-level
	// resources when set), from k8s.io/component-helpers/resource.
	Requests Resource
	// NonZeroMilliCPU and NonZeroMemory are the requests with defaults for containers that set
	// none; only scoring uses them.
	NonZeroMilliCPU, NonZeroMemory int64
	Ports                          []HostPort
	RequiredAffinity               []AffinityTerm
	RequiredAntiAffinity           []AffinityTerm
	PreferredAffinity              []WeightedAffinityTerm
	PreferredAntiAffinity          []WeightedAffinityTerm
	// Owner is the UID of the pod's controller (ReplicaSet, StatefulSet, Job…), if any.
	Owner types.UID
	// Terminating pods still hold their resources but no longer count for spreading.
	Terminating bool

	// The fields below are only filled by NewPendingPodInfo: they describe where the pod may go.
	NodeAffinity          nodeaffinity.RequiredNodeAffinity
	HasNodeAffinity       bool
	PreferredNodeAffinity *nodeaffinity.PreferredSchedulingTerms
	HardSpread            []SpreadConstraint
	SoftSpread            []SpreadConstraint
	// Images are the normalized image names of the init containers, containers and image
	// volumes, one per container (repeats included, as image locality scoring counts them).
	Images []string
	// ParseError is set when a selector of the pod cannot be parsed: the pod fits nowhere.
	ParseError error
}

// HostPort is a host port a pod holds on its node.
type HostPort struct {
	IP       string
	Protocol v1.Protocol
	Port     int32
}

// AffinityTerm is a parsed v1.PodAffinityTerm.
type AffinityTerm struct {
	// Namespaces the term selects pods in; when empty and NamespaceSelector is nil, the
	// namespace of the pod that carries the term.
	Namespaces []string
	// NamespaceSelector selects namespaces by their labels; labels.Nothing() when unset.
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
}

// Matches reports whether pod, living in a namespace labelled nsLabels, is selected by t.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if !t.MatchesNamespace(pod.Namespace, nsLabels) {
		return false
	}
	return t.Selector.Matches(labels.Set(pod.Labels))
}

// MatchesNamespace reports whether t selects pods of namespace ns (labelled nsLabels).
func (t *AffinityTerm) MatchesNamespace(ns string, nsLabels labels.Set) bool {
	for _, n := range t.Namespaces {
		if n == ns {
			return true
		}
	}
	return t.NamespaceSelector.Matches(nsLabels)
}

// WeightedAffinityTerm is a parsed v1.WeightedPodAffinityTerm.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// SpreadConstraint is a parsed v1.TopologySpreadConstraint.
type SpreadConstraint struct {
	MaxSkew            int32
	TopologyKey        string
	Selector           labels.Selector
	MinDomains         int32
	NodeAffinityPolicy v1.NodeInclusionPolicy
	NodeTaintsPolicy   v1.NodeInclusionPolicy
}

// NewPodInfo parses a pod that is bound (or assumed) to a node.
func NewPodInfo(pod *v1.Pod, priority int32) *PodInfo {
	pi := &PodInfo{Pod: pod, Priority: priority, Terminating: pod.DeletionTimestamp != nil}
	pi.Requests, pi.NonZeroMilliCPU, pi.NonZeroMemory = podRequests(pod)
	pi.Ports = hostPorts(pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		pi.Owner = ref.UID
	}
	var errs []error
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			pi.RequiredAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
			pi.PreferredAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			pi.RequiredAntiAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
			pi.PreferredAntiAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
		}
	}
	pi.ParseError = errors.Join(errs...)
	return pi
}

// NewPendingPodInfo parses a pod waiting to be scheduled: NewPodInfo plus its node
// affinity, spread constraints and images.
func NewPendingPodInfo(pod *v1.Pod, priority int32) *PodInfo {
	pi := NewPodInfo(pod, priority)
	errs := []error{}
	if pi.ParseError != nil {
		errs = append(errs, pi.ParseError)
	}
	pi.NodeAffinity = nodeaffinity.GetRequiredNodeAffinity(pod)
	a := pod.Spec.Affinity
	pi.HasNodeAffinity = len(pod.Spec.NodeSelector) > 0 ||
		(a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
	if a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		if err != nil {
			errs = append(errs, err)
		} else {
			pi.PreferredNodeAffinity = terms
		}
	}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		sc, err := spreadConstraint(pod, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.WhenUnsatisfiable == v1.ScheduleAnyway {
			pi.SoftSpread = append(pi.SoftSpread, sc)
		} else {
			pi.HardSpread = append(pi.HardSpread, sc)
		}
	}
	for i := range pod.Spec.InitContainers {
		pi.Images = append(pi.Images, NormalizedImageName(pod.Spec.InitContainers[i].Image))
	}
	for i := range pod.Spec.Containers {
		pi.Images = append(pi.Images, NormalizedImageName(pod.Spec.Containers[i].Image))
	}
	for i := range pod.Spec.Volumes {
		if img := pod.Spec.Volumes[i].Image; img != nil {
			pi.Images = append(pi.Images, NormalizedImageName(img.Reference))
		}
	}
	pi.ParseError = errors.Join(errs...)
	return pi
}

// NormalizedImageName adds the implicit ":latest" tag to an image without tag or digest.
func NormalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") {
		name = name + ":latest"
	}
	return name
}

// podRequests applies the upstream rules (init containers, sidecars, overhead, pod-level
// resources, resized pods' status) through k8s.io/component-helpers/resource.
func podRequests(pod *v1.Pod) (Resource, int64, int64) {
	opts := resourcehelper.PodResourcesOptions{UseStatusResources: true}
	reqs := resourcehelper.PodRequests(pod, opts)
	r := NewResource(reqs)
	cpu, mem := r.MilliCPU, r.Memory
	if !resourcehelper.IsPodLevelRequestsSet(pod) {
		missing := v1.ResourceList{}
		if _, ok := reqs[v1.ResourceCPU]; !ok {
			missing[v1.ResourceCPU] = *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI)
		}
		if _, ok := reqs[v1.ResourceMemory]; !ok {
			missing[v1.ResourceMemory] = *resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI)
		}
		if len(missing) > 0 {
			opts.NonMissingContainerRequests = missing
			nz := resourcehelper.PodRequests(pod, opts)
			q := nz[v1.ResourceCPU]
			cpu = q.MilliValue()
			q = nz[v1.ResourceMemory]
			mem = q.Value()
		}
	}
	return r, cpu, mem
}

// hostPorts lists the host ports of the app containers and of the sidecars (restartable
// init containers), the containers that run as long as the pod does.
func hostPorts(pod *v1.Pod) []HostPort {
	var out []HostPort
	add := func(c *v1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
			if hp.IP == "" {
				hp.IP = DefaultBindAllHostIP
			}
			if hp.Protocol == "" {
				hp.Protocol = v1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	return out
}

func affinityTerms(pod *v1.Pod, terms []v1.PodAffinityTerm, errs *[]error) []AffinityTerm {
	var out []AffinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, t)
	}
	return out
}

func weightedTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm, errs *[]error) []WeightedAffinityTerm {
	var out []WeightedAffinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out
}

func newAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	// matchLabelKeys and mismatchLabelKeys narrow the selector with the pod's own labels.
	if len(term.MatchLabelKeys) > 0 || len(term.MismatchLabelKeys) > 0 {
		for _, k := range term.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				sel = addRequirement(sel, k, selection.In, v)
			}
		}
		for _, k := range term.MismatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				sel = addRequirement(sel, k, selection.NotIn, v)
			}
		}
	}
	nsSel, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	t := AffinityTerm{NamespaceSelector: nsSel, Selector: sel, TopologyKey: term.TopologyKey}
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		t.Namespaces = []string{pod.Namespace}
	} else {
		t.Namespaces = term.Namespaces
	}
	return t, nil
}

func spreadConstraint(pod *v1.Pod, c v1.TopologySpreadConstraint) (SpreadConstraint, error) {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		return SpreadConstraint{}, err
	}
	for _, k := range c.MatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			sel = addRequirement(sel, k, selection.In, v)
		}
	}
	sc := SpreadConstraint{
		MaxSkew:            c.MaxSkew,
		TopologyKey:        c.TopologyKey,
		Selector:           sel,
		MinDomains:         1,
		NodeAffinityPolicy: v1.NodeInclusionPolicyHonor,
		NodeTaintsPolicy:   v1.NodeInclusionPolicyIgnore,
	}
	if c.MinDomains != nil {
		sc.MinDomains = *c.MinDomains
	}
	if c.NodeAffinityPolicy != nil {
		sc.NodeAffinityPolicy = *c.NodeAffinityPolicy
	}
	if c.NodeTaintsPolicy != nil {
		sc.NodeTaintsPolicy = *c.NodeTaintsPolicy
	}
	return sc, nil
}

func addRequirement(sel labels.Selector, key string, op selection.Operator, value string) labels.Selector {
	r, err := labels.NewRequirement(key, op, []string{value})
	if err != nil {
		return sel
	}
	return sel.Add(*r)
}

// String names the pod for logs and messages.
func (pi *PodInfo) String() string {
	return fmt.Sprintf("%s/%s", pi.Pod.Namespace, pi.Pod.Name)
}
