package deployment

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
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 5

// Controller rolls out Deployments.
type Controller struct {
	client      kubernetes.Interface
	deployments appslisters.DeploymentLister
	sets        appslisters.ReplicaSetLister
	pods        corelisters.PodLister
	synced      []cache.InformerSynced
	queue       *controller.Controller
	events      record.EventRecorder
	now         func() time.Time
	log         *slog.Logger
}

// New returns a controller that reads Deployments, ReplicaSets and pods from factory's
// informers, writes ReplicaSets and Deployments through client, and records scaling with
// recorder. The caller starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	dInformer := factory.Apps().V1().Deployments()
	rsInformer := factory.Apps().V1().ReplicaSets()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:      client,
		deployments: dInformer.Lister(),
		sets:        rsInformer.Lister(),
		pods:        podInformer.Lister(),
		synced: []cache.InformerSynced{dInformer.Informer().HasSynced, rsInformer.Informer().HasSynced,
			podInformer.Informer().HasSynced},
		events: recorder,
		now:    time.Now,
		log:    slog.Default().With("controller", "deployment"),
	}
	c.queue = controller.New("deployment", c)
	dInformer.Informer().AddEventHandler(c.queue.Handler())
	rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.replicaSetChanged,
		UpdateFunc: func(oldObj, newObj any) {
			old, rs := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
			if ref := metav1.GetControllerOf(old); ref != nil && !sameRef(ref, metav1.GetControllerOf(rs)) {
				c.replicaSetChanged(old)
			}
			c.replicaSetChanged(rs)
		},
		DeleteFunc: c.replicaSetChanged,
	})
	// Recreate waits for the old pods to be gone.
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.podDeleted})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

func sameRef(a, b *metav1.OwnerReference) bool {
	return b != nil && a.UID == b.UID
}

// owner returns the Deployment that ref names in namespace, if it exists with the same UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != "Deployment" {
		return nil
	}
	d, err := c.deployments.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// replicaSetChanged queues the ReplicaSet's Deployment or, for an orphan, every Deployment
// whose selector matches it.
func (c *Controller) replicaSetChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.owner(rs.Namespace, ref); d != nil {
			c.queue.Enqueue(d)
		}
		return
	}
	ds, err := c.deployments.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.queue.Enqueue(d)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.sets.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.owner(rs.Namespace, metav1.GetControllerOf(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.queue.Enqueue(d)
	}
}

// Reconcile moves the Deployment named by key one step along its rollout and records its
// status.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	d, err := c.deployments.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d = d.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return controller.Terminal(fmt.Errorf("deployment %s: selector: %w", key, err))
	}
	if sel.Empty() {
		// Selects everything: upstream refuses to act on it too.
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	sets, err := c.claim(ctx, d, sel)
	if err != nil {
		return err
	}
	r := &rollout{c: c, d: d, all: sets}
	if d.DeletionTimestamp != nil {
		return r.syncStatusOnly(ctx)
	}
	if err := r.checkPaused(ctx); err != nil {
		return err
	}
	if d.Spec.Paused {
		return r.sync(ctx)
	}
	scaling, err := r.isScalingEvent(ctx)
	if err != nil {
		return err
	}
	if scaling {
		return r.sync(ctx)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return r.recreate(ctx)
	case appsv1.RollingUpdateDeploymentStrategyType, "":
		return r.rollingUpdate(ctx)
	}
	return controller.Terminal(fmt.Errorf("deployment %s: unknown strategy %q", key, d.Spec.Strategy.Type))
}

// claim returns the ReplicaSets d controls after adopting matching orphans and releasing
// owned ones its selector no longer matches.
func (c *Controller) claim(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.sets.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controller.Claim(ctx, d, all,
		func(rs *appsv1.ReplicaSet) bool { return sel.Matches(labels.Set(rs.Labels)) },
		func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		},
		func(ctx context.Context, rs *appsv1.ReplicaSet, adopt bool) error {
			return c.setOwner(ctx, rs, d, adopt)
		})
}

// setOwner adopts rs for d or releases it. A ReplicaSet that vanished is not an error.
func (c *Controller) setOwner(ctx context.Context, rs *appsv1.ReplicaSet, d *appsv1.Deployment, adopt bool) error {
	rs = rs.DeepCopy()
	rs.OwnerReferences = controller.WithControllerRef(rs.OwnerReferences, d, deploymentKind, adopt)
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of replicaset %s/%s (adopt %v): %w", rs.Namespace, rs.Name, adopt, err)
	}
	return nil
}

// deploymentKind is what the controller references of its ReplicaSets name.
var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
