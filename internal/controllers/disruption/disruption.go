package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 2

// DeletionTimeout is how long an evicted pod may stay in a budget's disruptedPods before the
// controller concludes its deletion did not happen and counts it again.
const DeletionTimeout = 2 * time.Minute

// Controller keeps the status of every PodDisruptionBudget.
type Controller struct {
	client       kubernetes.Interface
	budgets      policylisters.PodDisruptionBudgetLister
	pods         corelisters.PodLister
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	rcs          corelisters.ReplicationControllerLister
	synced       []cache.InformerSynced
	queue        *controller.Controller
	stale        *controller.Controller
	events       record.EventRecorder
	now          func() time.Time
	log          *slog.Logger
}

// New returns a controller that reads budgets, pods and pod controllers from factory's
// informers, writes budget status through client and records events with recorder. The
// caller starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	pdbInformer := factory.Policy().V1().PodDisruptionBudgets()
	podInformer := factory.Core().V1().Pods()
	rsInformer := factory.Apps().V1().ReplicaSets()
	dInformer := factory.Apps().V1().Deployments()
	ssInformer := factory.Apps().V1().StatefulSets()
	rcInformer := factory.Core().V1().ReplicationControllers()
	c := &Controller{
		client:       client,
		budgets:      pdbInformer.Lister(),
		pods:         podInformer.Lister(),
		replicaSets:  rsInformer.Lister(),
		deployments:  dInformer.Lister(),
		statefulSets: ssInformer.Lister(),
		rcs:          rcInformer.Lister(),
		synced: []cache.InformerSynced{pdbInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			rsInformer.Informer().HasSynced, dInformer.Informer().HasSynced, ssInformer.Informer().HasSynced,
			rcInformer.Informer().HasSynced},
		events: recorder,
		now:    time.Now,
		log:    slog.Default().With("controller", "disruption"),
	}
	c.queue = controller.New("disruption", c)
	c.stale = controller.New("disruption-stale-pod", controller.ReconcileFunc(c.resetStale))
	pdbInformer.Informer().AddEventHandler(c.queue.Handler())
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(obj); c.watchStale(obj) },
		UpdateFunc: func(_, obj any) { c.podChanged(obj); c.watchStale(obj) },
		DeleteFunc: c.podChanged,
	})
	return c
}

// Run reconciles budgets, and resets stale DisruptionTarget pod conditions, until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	staleDone := make(chan error, 1)
	go func() { staleDone <- c.stale.Run(ctx, 1, c.synced...) }()
	err := c.queue.Run(ctx, workers, c.synced...)
	cancel()
	return errors.Join(err, <-staleDone)
}

// podChanged queues the budgets that cover the pod: its readiness or existence moves their
// numbers.
func (c *Controller) podChanged(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	// The lister answers an error only when no budget matches.
	budgets, err := c.budgets.GetPodPodDisruptionBudgets(pod)
	if err != nil {
		return
	}
	if len(budgets) > 1 {
		c.events.Eventf(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets",
			"Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, budgets[0].Name)
	}
	for _, pdb := range budgets {
		c.queue.Enqueue(pdb)
	}
}

// Reconcile brings the status of the budget named by key up to date.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(fmt.Errorf("split key %q: %w", key, err))
	}
	pdb, err := c.budgets.PodDisruptionBudgets(ns).Get(name)
	if err != nil {
		// Deleted: nothing to keep current.
		return nil
	}
	return c.sync(ctx, pdb)
}
