package simulate

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
)

// Options says what nodes to simulate and how they behave. Start from DefaultOptions; the
// zero value of a field means its default only where the field says so.
type Options struct {
	// Nodes is how many nodes to simulate; at least 1.
	Nodes int
	// NodePrefix names the nodes: <NodePrefix>-0 … <NodePrefix>-<Nodes-1>.
	NodePrefix string

	// Capacity is every node's capacity, and also its allocatable. It must hold cpu,
	// memory and pods.
	Capacity corev1.ResourceList
	// Zones spreads the nodes round-robin over zone-a, zone-b, … in the label
	// topology.kubernetes.io/zone; 0 sets no zone label.
	Zones int
	// Arch is the kubernetes.io/arch label and nodeInfo.architecture.
	Arch string
	// Labels are added to every node. They may override the default labels, except
	// kubernetes.io/hostname and gantry.dev/simulated.
	Labels map[string]string
	// Taints are set on every node when it is created, and added if missing when it is
	// registered again (other taints, such as a cordon's, are left alone).
	Taints []corev1.Taint

	// PodCIDR is the IPv4 range that host and pod addresses are made up from; it is split
	// into one equal block per node. The addresses only appear in status: nothing ever
	// sends traffic to them. Default 198.18.0.0/15 (RFC 2544's benchmarking range).
	PodCIDR netip.Prefix

	// PodStartDelay is how long after a pod is seen bound to a node it becomes Running
	// and Ready; 0 starts it at once.
	PodStartDelay time.Duration
	// JobDuration is how long a pod owned by a Job runs before it succeeds.
	JobDuration time.Duration

	// LeaseDuration is the nodes' Leases' leaseDurationSeconds (whole seconds).
	LeaseDuration time.Duration
	// LeaseRenewInterval is how often each node's Lease is renewed.
	LeaseRenewInterval time.Duration
	// NodeStatusInterval is how often each node's Ready condition heartbeat is written.
	NodeStatusInterval time.Duration

	// Workers bounds the requests in flight of each loop (leases, node status, pods);
	// registration runs four times as many.
	Workers int
	// QPS and Burst limit the agent's requests per second. 0 keeps those of the
	// rest.Config given to Run, or, if it has none, sizes them from the number of nodes
	// and the intervals.
	QPS   float32
	Burst int

	// Logger defaults to slog.Default() with component=simulate.
	Logger *slog.Logger

	// clock is the agent's time source; tests replace it.
	clock clock.Clock
}

// Defaults of DefaultOptions.
const (
	DefaultNodePrefix         = "sim"
	DefaultPodCIDR            = "198.18.0.0/15"
	DefaultPodStartDelay      = time.Second
	DefaultJobDuration        = 5 * time.Second
	DefaultLeaseDuration      = 40 * time.Second
	DefaultLeaseRenewInterval = 10 * time.Second
	DefaultNodeStatusInterval = time.Minute
	DefaultWorkers            = 16
)

// DefaultOptions simulates one node of 8 CPUs, 32Gi of memory, 100Gi of ephemeral storage
// and 110 pods in one of 3 zones.
func DefaultOptions() Options {
	return Options{
		Nodes:      1,
		NodePrefix: DefaultNodePrefix,
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("8"),
			corev1.ResourceMemory:           resource.MustParse("32Gi"),
			corev1.ResourcePods:             resource.MustParse("110"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		},
		Zones:              3,
		Arch:               "amd64",
		PodCIDR:            netip.MustParsePrefix(DefaultPodCIDR),
		PodStartDelay:      DefaultPodStartDelay,
		JobDuration:        DefaultJobDuration,
		LeaseDuration:      DefaultLeaseDuration,
		LeaseRenewInterval: DefaultLeaseRenewInterval,
		NodeStatusInterval: DefaultNodeStatusInterval,
		Workers:            DefaultWorkers,
	}
}

// complete checks o and fills in what is derived.
func (o Options) complete() (Options, error) {
	var errs []error
	if o.Nodes < 1 {
		errs = append(errs, fmt.Errorf("nodes: want at least 1, have %d", o.Nodes))
	}
	if msgs := validation.IsDNS1123Subdomain(nodeName(o.NodePrefix, o.Nodes-1)); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("node prefix %q: %s", o.NodePrefix, strings.Join(msgs, "; ")))
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if q, ok := o.Capacity[r]; !ok || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("capacity: %s must be positive", r))
		}
	}
	if o.Zones < 0 {
		errs = append(errs, fmt.Errorf("zones: want 0 or more, have %d", o.Zones))
	}
	if o.Arch == "" {
		errs = append(errs, errors.New("arch must not be empty"))
	}
	if _, err := newAddressPlan(o.PodCIDR, o.Nodes); err != nil {
		errs = append(errs, err)
	}
	if o.PodStartDelay < 0 || o.JobDuration < 0 {
		errs = append(errs, errors.New("pod start delay and job duration must not be negative"))
	}
	if o.LeaseDuration < time.Second || o.LeaseRenewInterval <= 0 || o.NodeStatusInterval <= 0 {
		errs = append(errs, errors.New("lease duration must be at least 1s and the intervals positive"))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers: want at least 1, have %d", o.Workers))
	}
	if o.Logger == nil {
		o.Logger = slog.Default().With("component", "simulate")
	}
	if o.clock == nil {
		o.clock = clock.RealClock{}
	}
	return o, errors.Join(errs...)
}

// nodeName is the name of node i.
func nodeName(prefix string, i int) string {
	return fmt.Sprintf("%s-%d", prefix, i)
}

// ZoneName is the name of zone i: zone-a … zone-z, zone-aa, zone-ab, …
func ZoneName(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('a' + (i-1)%26)}, b...)
	}
	return "zone-" + string(b)
}

// ParseTaints parses taints written as key[=value]:Effect, as kubectl taint does.
func ParseTaints(specs []string) ([]corev1.Taint, error) {
	var taints []corev1.Taint
	for _, s := range specs {
		kv, effect, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("taint %q: want key[=value]:Effect", s)
		}
		key, value, _ := strings.Cut(kv, "=")
		t := corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("taint %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", s)
		}
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			return nil, fmt.Errorf("taint %q: key: %s", s, strings.Join(msgs, "; "))
		}
		taints = append(taints, t)
	}
	return taints, nil
}
