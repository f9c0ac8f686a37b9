package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/controller"
)

// DefaultGracePeriod is how long a node may stay silent before it is marked Unknown.
const DefaultGracePeriod = 40 * time.Second

// leaseNamespace holds the agents' heartbeat Leases, one per node, named after it.
const leaseNamespace = corev1.NamespaceNodeLease

// podsByNode indexes pods by spec.nodeName. The name is this package's so that it cannot
// clash with another controller's index on the shared pod informer.
const podsByNode = "nodelifecycle/node"

// Controller monitors nodes, keeps their condition taints, and evicts pods from nodes with
// NoExecute taints.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	monitor  *controller.Controller
	evictor  *controller.Controller
	recorder events.EventRecorder
	clock    clock.Clock
	grace    time.Duration

	mu     sync.Mutex
	probes map[string]probe
}

// probe is the newest heartbeat seen from a node, and when this controller first saw it.
type probe struct {
	heartbeat time.Time
	seen      time.Time
}

// New returns a controller over factory's informers that writes through client. A node
// silent for grace (DefaultGracePeriod if zero) is marked Unknown.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder events.EventRecorder, grace time.Duration) *Controller {
	if grace <= 0 {
		grace = DefaultGracePeriod
	}
	nodeInformer := factory.Core().V1().Nodes()
	leaseInformer := factory.Coordination().V1().Leases()
	podInformer := factory.Core().V1().Pods().Informer()
	c := &Controller{
		client:   client,
		nodes:    nodeInformer.Lister(),
		leases:   leaseInformer.Lister(),
		pods:     podInformer.GetIndexer(),
		synced:   []cache.InformerSynced{nodeInformer.Informer().HasSynced, leaseInformer.Informer().HasSynced, podInformer.HasSynced},
		recorder: recorder,
		clock:    clock.RealClock{},
		grace:    grace,
		probes:   map[string]probe{},
	}
	c.monitor = controller.New("nodelifecycle", controller.ReconcileFunc(c.reconcileNode))
	c.evictor = controller.New("tainteviction", controller.ReconcileFunc(c.reconcileEvictions))
	if err := podInformer.AddIndexers(cache.Indexers{podsByNode: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{pod.Spec.NodeName}, nil
	}}); err != nil {
		panic(fmt.Sprintf("nodelifecycle: pod index: %v", err)) // only if the index is added twice
	}
	nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.nodeChanged,
		UpdateFunc: func(_, obj any) { c.nodeChanged(obj) },
		DeleteFunc: c.nodeChanged,
	})
	leaseInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.leaseChanged,
		UpdateFunc: func(_, obj any) { c.leaseChanged(obj) },
	})
	podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
	})
	return c
}

// Run monitors nodes and evicts pods until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	errs := make(chan error, 2)
	go func() { errs <- c.monitor.Run(ctx, 2, c.synced...) }()
	go func() { errs <- c.evictor.Run(ctx, 2, c.synced...) }()
	err := <-errs
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

func (c *Controller) nodeChanged(obj any) {
	c.monitor.Enqueue(obj)
	c.evictor.Enqueue(obj)
}

func (c *Controller) leaseChanged(obj any) {
	if l, ok := obj.(*coordinationv1.Lease); ok && l.Namespace == leaseNamespace {
		c.monitor.EnqueueKey(l.Name)
	}
}

// podChanged looks at the pod's node again when the pod may have to leave it: bound to a
// node with NoExecute taints, or its tolerations changed there.
func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if err == nil && len(noExecuteTaints(node)) > 0 {
		c.evictor.EnqueueKey(node.Name)
	}
}

// reconcileNode checks that the node is alive, then keeps its taints and its pods' readiness
// in line with its conditions.
func (c *Controller) reconcileNode(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.probes, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	silent := c.silentFor(node)
	if silent >= c.grace && readyStatus(node) != corev1.ConditionUnknown {
		if node, err = c.markUnknown(ctx, node); err != nil {
			return err
		}
	}
	if err := c.syncTaints(ctx, node); err != nil {
		return err
	}
	if readyStatus(node) != corev1.ConditionTrue {
		if err := c.markPodsNotReady(ctx, node.Name); err != nil {
			return err
		}
	}
	if silent < c.grace {
		// Look again when the grace period would run out; a heartbeat before then requeues
		// the node anyway and moves the deadline.
		return controller.RequeueAfter(c.grace - silent + time.Second)
	}
	return nil
}

// silentFor returns how long, by this controller's clock, node's heartbeat has not moved.
func (c *Controller) silentFor(node *corev1.Node) time.Duration {
	hb := time.Time{}
	if cond := condition(node, corev1.NodeReady); cond != nil {
		hb = cond.LastHeartbeatTime.Time
	}
	if l, err := c.leases.Leases(leaseNamespace).Get(node.Name); err == nil && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(hb) {
		hb = l.Spec.RenewTime.Time
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.probes[node.Name]
	if !ok || hb.After(p.heartbeat) {
		p = probe{heartbeat: hb, seen: now}
		c.probes[node.Name] = p
	}
	return now.Sub(p.seen)
}

// markUnknown sets the conditions the agent reports to Unknown.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	n := node.DeepCopy()
	now := metav1.NewTime(c.clock.Now())
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		cond := condition(n, t)
		if cond == nil {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now})
			continue
		}
		if cond.Status != corev1.ConditionUnknown {
			cond.Status, cond.LastTransitionTime = corev1.ConditionUnknown, now
		}
		cond.Reason, cond.Message = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	c.recorder.Eventf(updated, nil, corev1.EventTypeNormal, "NodeNotReady", "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return updated, nil
}

// syncTaints writes the taints node's conditions call for, if they differ from its own.
func (c *Controller) syncTaints(ctx context.Context, node *corev1.Node) error {
	taints, changed := reconcileTaints(node.Spec.Taints, wantedTaints(node), metav1.NewTime(c.clock.Now()))
	if !changed {
		return nil
	}
	n := node.DeepCopy()
	n.Spec.Taints = taints
	if _, err := c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("taint node %s: %w", node.Name, err)
	}
	return nil
}

// markPodsNotReady sets Ready=False on the pods of a node that is not Ready: nobody can
// vouch for them.
func (c *Controller) markPodsNotReady(ctx context.Context, nodeName string) error {
	objs, err := c.pods.ByIndex(podsByNode, nodeName)
	if err != nil {
		return err
	}
	now := metav1.NewTime(c.clock.Now())
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		i := podConditionIndex(pod, corev1.PodReady)
		if i < 0 || pod.Status.Conditions[i].Status != corev1.ConditionTrue {
			continue
		}
		p := pod.DeepCopy()
		p.Status.Conditions[i].Status = corev1.ConditionFalse
		p.Status.Conditions[i].LastTransitionTime = now
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the status of node's Ready condition; a node that never reported one is
// Unknown.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if cond := condition(node, corev1.NodeReady); cond != nil {
		return cond.Status
	}
	return corev1.ConditionUnknown
}

func podConditionIndex(pod *corev1.Pod, t corev1.PodConditionType) int {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return i
		}
	}
	return -1
}
