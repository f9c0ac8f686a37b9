package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/gantryhq/gantry/internal/controller"
)

// Labels and values every simulated node carries.
const (
	// LabelSimulated marks a node as simulated, with the value "true".
	LabelSimulated = "gantry.dev/simulated"
	// InstanceType is the node.kubernetes.io/instance-type of simulated nodes.
	InstanceType = "simulated"
	// KubeletVersion and RuntimeVersion are what simulated nodes report in nodeInfo.
	KubeletVersion = "v1.37.2-gantry-sim"
	RuntimeVersion = "simulated://1"
	// ProviderIDPrefix starts the spec.providerID of simulated nodes.
	ProviderIDPrefix = "gantry-sim://"
)

// simNode is one simulated node: what is fixed about it, and the last copies of its Node and
// Lease that the API returned, which the next write starts from.
type simNode struct {
	index  int
	name   string
	hostIP netip.Addr
	ips    *ipPool

	mu    sync.Mutex
	node  *corev1.Node
	lease *coordinationv1.Lease
	// gone is set once the Node was deleted behind the agent's back: like a kubelet, the
	// agent does not register it again until it restarts.
	gone bool
}

func (n *simNode) lastNode() *corev1.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

func (n *simNode) setNode(node *corev1.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.node = node
}

func (n *simNode) lastLease() *coordinationv1.Lease {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lease
}

func (n *simNode) setLease(l *coordinationv1.Lease) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lease = l
}

func (n *simNode) isGone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gone
}

func (n *simNode) markGone() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gone, n.node, n.lease = true, nil, nil
}

// nodeLabels are the labels of node n.
func nodeLabels(o *Options, n *simNode) map[string]string {
	labels := map[string]string{
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         o.Arch,
		corev1.LabelInstanceTypeStable: InstanceType,
	}
	if o.Zones > 0 {
		labels[corev1.LabelTopologyZone] = ZoneName(n.index % o.Zones)
	}
	for k, v := range o.Labels {
		labels[k] = v
	}
	labels[corev1.LabelHostname] = n.name
	labels[LabelSimulated] = "true"
	return labels
}

// nodeConditions are the conditions a simulated node always reports: healthy.
var nodeConditions = []corev1.NodeCondition{
	{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
	{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
	{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
	{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
}

// newNode is node n as the agent registers it at now.
func newNode(o *Options, n *simNode, now metav1.Time) *corev1.Node {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: nodeLabels(o, n)},
		Spec: corev1.NodeSpec{
			ProviderID: ProviderIDPrefix + n.name,
			Taints:     append([]corev1.Taint(nil), o.Taints...),
		},
		Status: corev1.NodeStatus{
			Capacity:    o.Capacity.DeepCopy(),
			Allocatable: o.Capacity.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.hostIP.String()},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               fakeID(n.name, "machine"),
				SystemUUID:              fakeID(n.name, "system"),
				BootID:                  fakeID(n.name, "boot"),
				KernelVersion:           "simulated",
				OSImage:                 "Gantry simulated node",
				ContainerRuntimeVersion: RuntimeVersion,
				KubeletVersion:          KubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            o.Arch,
			},
		},
	}
	setNodeConditions(&node.Status, now)
	return node
}

// setNodeConditions sets nodeConditions in status with a heartbeat at now. A condition
// whose status does not change keeps its lastTransitionTime; other conditions are kept.
func setNodeConditions(status *corev1.NodeStatus, now metav1.Time) {
	for _, want := range nodeConditions {
		want.LastHeartbeatTime, want.LastTransitionTime = now, now
		found := false
		for i := range status.Conditions {
			c := &status.Conditions[i]
			if c.Type != want.Type {
				continue
			}
			if c.Status == want.Status {
				want.LastTransitionTime = c.LastTransitionTime
			}
			*c, found = want, true
			break
		}
		if !found {
			status.Conditions = append(status.Conditions, want)
		}
	}
}

// reregistered is cur with what registration owns brought in line with want: the labels and
// taints of want added or updated, the providerID set if empty. Everything else, such as a
// cordon or another controller's labels, stays. It returns nil if nothing changes.
func reregistered(cur, want *corev1.Node) *corev1.Node {
	out := cur.DeepCopy()
	changed := false
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		if old, ok := out.Labels[k]; !ok || old != v {
			out.Labels[k], changed = v, true
		}
	}
	for _, t := range want.Spec.Taints {
		if !hasTaint(out.Spec.Taints, t) {
			out.Spec.Taints, changed = append(out.Spec.Taints, t), true
		}
	}
	if out.Spec.ProviderID == "" {
		out.Spec.ProviderID, changed = want.Spec.ProviderID, true
	}
	if !changed {
		return nil
	}
	return out
}

func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for _, x := range taints {
		if x.Key == t.Key && x.Value == t.Value && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

// fakeID is a stable made-up identifier, 32 hex digits, for what of node.
func fakeID(node, what string) string {
	sum := sha256.Sum256([]byte(what + "/" + node))
	return hex.EncodeToString(sum[:16])
}

// register creates node n, or updates it if it exists, and then its Lease. existing is the
// Node as listed before registration began, if it was there; nil means it was not, and a
// create is tried first.
func (a *agent) register(ctx context.Context, n *simNode, existing *corev1.Node, lease *coordinationv1.Lease) error {
	nodes := a.client.CoreV1().Nodes()
	want := newNode(&a.opts, n, metav1.NewTime(a.clock.Now()))
	if existing == nil {
		created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		switch {
		case err == nil:
			n.setNode(created)
			return a.ensureLease(ctx, n)
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("register node %s: %w", n.name, err)
		}
	}
	cur := existing
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		if cur == nil {
			if cur, err = nodes.Get(ctx, n.name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		node, err := a.reregister(ctx, cur, want)
		if err != nil {
			cur = nil // conflict: read it again
			return err
		}
		n.setNode(node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("register node %s again: %w", n.name, err)
	}
	if lease != nil {
		n.setLease(lease)
		return a.writeLease(ctx, n, true)
	}
	return a.ensureLease(ctx, n)
}

// reregister brings the existing node cur in line with want: its labels and taints
// (reregistered), then its status, which becomes want's but for conditions other than ours.
func (a *agent) reregister(ctx context.Context, cur, want *corev1.Node) (*corev1.Node, error) {
	nodes := a.client.CoreV1().Nodes()
	if upd := reregistered(cur, want); upd != nil {
		var err error
		if cur, err = nodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
	}
	upd := cur.DeepCopy()
	conditions := upd.Status.Conditions
	upd.Status = *want.Status.DeepCopy()
	upd.Status.Conditions = conditions
	setNodeConditions(&upd.Status, metav1.NewTime(a.clock.Now()))
	return nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
}

// heartbeat is the reconciler of node status: it writes node key's conditions with a fresh
// heartbeat, and comes back after NodeStatusInterval.
func (a *agent) heartbeat(ctx context.Context, key string) error {
	n := a.nodes[key]
	if n == nil || n.isGone() {
		return nil
	}
	err := a.writeNodeStatus(ctx, n)
	switch {
	case ctx.Err() != nil:
		return nil // stopping
	case apierrors.IsNotFound(err):
		a.nodeDeleted(n)
		return nil
	case err != nil:
		a.statusFailures.record(a.clock.Now(), n.name, err)
		return controller.RequeueAfter(retryAfter(a.opts.NodeStatusInterval))
	}
	return controller.RequeueAfter(a.opts.NodeStatusInterval)
}

// writeNodeStatus updates the node's conditions from its last known copy, and on a conflict
// from a fresh one.
func (a *agent) writeNodeStatus(ctx context.Context, n *simNode) error {
	nodes := a.client.CoreV1().Nodes()
	cur := n.lastNode()
	for attempt := 0; ; attempt++ {
		var err error
		if cur == nil {
			if cur, err = nodes.Get(ctx, n.name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		upd := cur.DeepCopy()
		setNodeConditions(&upd.Status, metav1.NewTime(a.clock.Now()))
		out, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			n.setNode(out)
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == maxConflictRetries {
			return err
		}
		cur = nil
	}
}

// nodeDeleted stops looking after a node that was deleted.
func (a *agent) nodeDeleted(n *simNode) {
	if !n.isGone() {
		a.log.Info("node was deleted; it stays deleted until the agent restarts", "node", n.name)
	}
	n.markGone()
}

// maxConflictRetries is how many times a write that conflicts is retried on a fresh copy.
const maxConflictRetries = 5

// retryAfter is how soon a failed periodic write is tried again: a fifth of its period,
// between one and ten seconds.
func retryAfter(period time.Duration) time.Duration {
	return min(max(period/5, time.Second), 10*time.Second)
}

// spread is when item i of n first runs, so that n periodic items run evenly over period
// rather than all at once.
func spread(i, n int, period time.Duration) time.Duration {
	return time.Duration(int64(period) / int64(n) * int64(i))
}
