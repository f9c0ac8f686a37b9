package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 2

// Backoff between deletions of failed pods on one node, as upstream.
const (
	failedPodsBackoffBase = time.Second
	failedPodsBackoffMax  = 15 * time.Minute
)

// daemonSetKind is what the controller references of its pods and revisions name.
var daemonSetKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps one pod of every DaemonSet on each eligible node.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.DaemonSetLister
	revisions appslisters.ControllerRevisionLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	queue     *controller.Controller
	exp       *controller.Expectations
	backoff   *flowcontrol.Backoff
	now       func() time.Time
	log       *slog.Logger
}

// New returns a controller that reads DaemonSets, ControllerRevisions, pods and nodes from
// factory's informers and writes pods, revisions and DaemonSet status through client. The
// caller starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	dsInformer := factory.Apps().V1().DaemonSets()
	crInformer := factory.Apps().V1().ControllerRevisions()
	podInformer := factory.Core().V1().Pods()
	nodeInformer := factory.Core().V1().Nodes()
	c := &Controller{
		client:    client,
		sets:      dsInformer.Lister(),
		revisions: crInformer.Lister(),
		pods:      podInformer.Lister(),
		nodes:     nodeInformer.Lister(),
		synced: []cache.InformerSynced{dsInformer.Informer().HasSynced, crInformer.Informer().HasSynced,
			podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		exp:     controller.NewExpectations(),
		backoff: flowcontrol.NewBackOff(failedPodsBackoffBase, failedPodsBackoffMax),
		now:     time.Now,
		log:     slog.Default().With("controller", "daemonset"),
	}
	c.queue = controller.New("daemonset", c)
	dsInformer.Informer().AddEventHandler(c.queue.Handler())
	crInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.revisionChanged,
		UpdateFunc: func(_, obj any) { c.revisionChanged(obj) },
		DeleteFunc: c.revisionChanged,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// Reconcile drives the DaemonSet named by key ("namespace/name") towards one pod per
// eligible node and records its status.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	ds, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return controller.Terminal(fmt.Errorf("daemonset %s: selector: %w", key, err))
	}
	// An empty selector would select every pod of the namespace; upstream refuses it too
	// (validation forbids it, so only old objects can have one).
	if sel.Empty() {
		return nil
	}
	// While the DaemonSet is being deleted its revisions may already be gone, so neither
	// pods nor status can be trusted; the garbage collector does the rest.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	cur, old, err := c.history(ctx, ds, sel)
	if err != nil {
		return fmt.Errorf("revisions of daemonset %s: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	if !c.exp.Satisfied(key) {
		// Only status; observedGeneration stays, as this generation was not acted on.
		return c.updateStatus(ctx, ds, nodes, pods, hash, false)
	}
	syncErr := c.sync(ctx, key, ds, nodes, pods, hash, old)
	if err := c.updateStatus(ctx, ds, nodes, pods, hash, true); err != nil && syncErr == nil {
		return err
	}
	return syncErr
}

// sync manages the pods, rolls them to the current revision and prunes history.
func (c *Controller) sync(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, old []*appsv1.ControllerRevision) error {
	changed, err := c.manage(ctx, key, ds, nodes, pods, hash)
	if err != nil {
		return err
	}
	// Roll only over pods as they are: not in a pass whose pod list manage has just made stale
	// (the cache may already show its writes, satisfying the expectations, while pods does
	// not), and only once what earlier passes asked for has been observed.
	if !changed && c.exp.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, key, ds, nodes, pods, hash); err != nil {
			return err
		}
	}
	if err := c.cleanupHistory(ctx, ds, pods, old); err != nil {
		return fmt.Errorf("clean up revisions of daemonset %s: %w", key, err)
	}
	return nil
}
