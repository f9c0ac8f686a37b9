package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	// DefaultNodeMaskSize gives each node a /24, DESIGN.md's pod network.
	DefaultNodeMaskSize = 24

	// reasonCIDRNotAvailable is the event and condition reason of an exhausted range
	// (upstream's event reason).
	reasonCIDRNotAvailable = "CIDRNotAvailable"
	reasonCIDRAssigned     = "CIDRAssigned"
)

// Options configure the allocator.
type Options struct {
	// ClusterCIDR is the range the nodes' pod ranges come from (--cluster-cidr).
	ClusterCIDR netip.Prefix
	// NodeMaskSize is the prefix length of each node's range (--node-cidr-mask-size); 0 means
	// DefaultNodeMaskSize.
	NodeMaskSize int
	// ServiceCIDR, if valid, is kept out of the nodes' ranges where the two overlap.
	ServiceCIDR netip.Prefix
}

// Validate says whether the options describe ranges the controller can hand out.
func (o Options) Validate() error {
	if o.NodeMaskSize == 0 {
		o.NodeMaskSize = DefaultNodeMaskSize
	}
	return checkRange(o.ClusterCIDR, o.NodeMaskSize)
}

// Controller gives Nodes their pod ranges.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	recorder record.EventRecorder
	ctrl     *controller.Controller
	log      *slog.Logger
	// alloc is used by the single worker only (and by Run before the worker starts).
	alloc *allocator
}

// New returns the controller over factory's Node informer; it patches Nodes through client
// and records events with recorder.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts Options) (*Controller, error) {
	if opts.NodeMaskSize == 0 {
		opts.NodeMaskSize = DefaultNodeMaskSize
	}
	alloc, err := newAllocator(opts.ClusterCIDR, opts.NodeMaskSize)
	if err != nil {
		return nil, err
	}
	if opts.ServiceCIDR.IsValid() {
		alloc.reserve(opts.ServiceCIDR)
	}
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		nodes:    nodes.Lister(),
		synced:   nodes.Informer().HasSynced,
		recorder: recorder,
		log:      slog.Default().With("controller", "nodeipam"),
		alloc:    alloc,
	}
	c.ctrl = controller.New("nodeipam", controller.ReconcileFunc(c.Reconcile))
	if _, err := nodes.Informer().AddEventHandler(c.ctrl.Handler()); err != nil {
		return nil, fmt.Errorf("nodeipam: watch nodes: %w", err)
	}
	return c, nil
}

// Run rebuilds the allocation from the Nodes, then hands out ranges until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("nodeipam: caches did not sync: %w", ctx.Err())
	}
	if err := c.rebuild(); err != nil {
		return err
	}
	// One worker: the allocator has no lock, and ranges are handed out one at a time anyway.
	return c.ctrl.Run(ctx, 1, c.synced)
}

// rebuild marks every range a Node holds as taken, before any is handed out.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("nodeipam: list nodes: %w", err)
	}
	for _, n := range nodes {
		p, ok, err := podCIDR(n)
		if err != nil || !ok {
			continue // reconciled (and reported) like any other node
		}
		if err := c.alloc.occupy(n.Name, p); err != nil {
			c.log.Error("node holds a pod CIDR the allocator cannot take", "node", n.Name, "podCIDR", p, "err", err)
		}
	}
	return nil
}

// Reconcile gives the Node named key a range, or frees the range of a deleted one.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	node, err := c.nodes.Get(key)
	if apierrors.IsNotFound(err) {
		if p, ok := c.alloc.release(key); ok {
			c.log.Info("released pod CIDR of deleted node", "node", key, "podCIDR", p)
			c.retryWaiting()
		}
		return nil
	}
	if err != nil {
		return err
	}
	p, ok, err := podCIDR(node)
	if err != nil {
		return controller.Terminal(fmt.Errorf("node %s: %w", node.Name, err))
	}
	if ok {
		if err := c.alloc.occupy(node.Name, p); err != nil {
			return controller.Terminal(fmt.Errorf("node %s: pod CIDR %s: %w", node.Name, p, err))
		}
		return c.clearUnavailable(ctx, node)
	}
	if node.DeletionTimestamp != nil {
		return nil
	}
	p, err = c.alloc.allocate(node.Name)
	if errors.Is(err, errExhausted) {
		c.recorder.Eventf(node, corev1.EventTypeNormal, reasonCIDRNotAvailable, "Node %s status is now: %s", node.Name, reasonCIDRNotAvailable)
		if err := c.setUnavailable(ctx, node, err.Error()); err != nil {
			return err
		}
		return err // retried with backoff, and at once when a range is freed
	}
	if err != nil {
		return err
	}
	// The range stays with this node name until the Node is gone, so a retry after a failed
	// or conflicting patch writes the same range.
	if err := c.patchPodCIDR(ctx, node, p); err != nil {
		if apierrors.IsNotFound(err) {
			c.alloc.release(node.Name)
			return nil
		}
		return err
	}
	c.log.Info("set node pod CIDR", "node", node.Name, "podCIDR", p)
	return nil
}

// retryWaiting enqueues the Nodes still waiting for a range.
func (c *Controller) retryWaiting() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) == 0 {
			c.ctrl.Enqueue(n)
		}
	}
}

// patchPodCIDR sets spec.podCIDR(s), guarded by the resourceVersion the decision was made on:
// a Node that changed meanwhile (perhaps given a range by a previous leader) conflicts.
func (c *Controller) patchPodCIDR(ctx context.Context, node *corev1.Node, p netip.Prefix) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"podCIDR": p.String(), "podCIDRs": []string{p.String()}},
	})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set pod CIDR %s of node %s: %w", p, node.Name, err)
	}
	return nil
}

// setUnavailable marks node NetworkUnavailable for want of a range, unless it already is.
func (c *Controller) setUnavailable(ctx context.Context, node *corev1.Node, message string) error {
	if cond := networkCondition(node); cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == reasonCIDRNotAvailable {
		return nil
	}
	return c.patchCondition(ctx, node, corev1.ConditionTrue, reasonCIDRNotAvailable, message)
}

// clearUnavailable turns our NetworkUnavailable condition False once the node has a range.
// A condition someone else set is theirs to clear.
func (c *Controller) clearUnavailable(ctx context.Context, node *corev1.Node) error {
	if cond := networkCondition(node); cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != reasonCIDRNotAvailable {
		return nil
	}
	return c.patchCondition(ctx, node, corev1.ConditionFalse, reasonCIDRAssigned, "node has a pod CIDR")
}

func (c *Controller) patchCondition(ctx context.Context, node *corev1.Node, status corev1.ConditionStatus, reason, message string) error {
	now := metav1.Now()
	cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: status, Reason: reason, Message: message,
		LastHeartbeatTime: now, LastTransitionTime: now}
	// A strategic merge patch merges conditions by type, leaving the agent's own alone.
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set NetworkUnavailable=%s on node %s: %w", status, node.Name, err)
	}
	return nil
}

func networkCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeNetworkUnavailable {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// podCIDR is the node's IPv4 pod range, if it has one.
func podCIDR(node *corev1.Node) (netip.Prefix, bool, error) {
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs = []string{node.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false, fmt.Errorf("pod CIDR %q: %w", s, err)
		}
		if p.Addr().Is4() {
			return p, true, nil
		}
	}
	if len(cidrs) > 0 {
		return netip.Prefix{}, false, fmt.Errorf("pod CIDRs %v: no IPv4 range", cidrs)
	}
	return netip.Prefix{}, false, nil
}
