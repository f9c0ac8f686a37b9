package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	workers = 3
	// deletionDelay is how long a namespace being deleted waits before it is emptied, so
	// that creates admitted just before it turned Terminating have landed. Upstream waits 5 s
	// for HA API servers; there is one store here.
	deletionDelay = time.Second
)

// Controller empties and finalizes namespaces being deleted.
type Controller struct {
	client     kubernetes.Interface
	metadata   metadata.Interface
	namespaces corelisters.NamespaceLister
	synced     cache.InformerSynced
	queue      *controller.Controller
	log        *slog.Logger
	// discover lists the preferred namespaced resources (client.Discovery() in production).
	discover func() ([]*metav1.APIResourceList, error)
}

// New returns a controller that watches namespaces through factory's informer, finds
// resources through client's discovery, lists and deletes content through meta, and updates
// and finalizes namespaces through client. The caller starts factory after constructing
// everything.
func New(client kubernetes.Interface, meta metadata.Interface, factory informers.SharedInformerFactory) *Controller {
	inf := factory.Core().V1().Namespaces()
	c := &Controller{
		client:     client,
		metadata:   meta,
		namespaces: inf.Lister(),
		synced:     inf.Informer().HasSynced,
		log:        slog.Default().With("controller", "namespace"),
		discover:   client.Discovery().ServerPreferredNamespacedResources,
	}
	c.queue = controller.New("namespace", c)
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.EnqueueAfter(ns.Name, deletionDelay)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced)
}

// Reconcile empties the namespace named key if it is being deleted and finalizes it once
// empty.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	// Live, not from the cache: several parties write a terminating namespace.
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, key, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		ns = ns.DeepCopy()
		ns.Status.Phase = corev1.NamespaceTerminating
		if ns, err = c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return ignoreNotFound(err)
		}
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}

	estimate, err := c.deleteContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		wait := time.Duration(estimate/2+1) * time.Second
		c.log.Debug("content remains", "namespace", key, "wait", wait)
		return controller.RequeueAfter(wait)
	}
	if err := c.finalize(ctx, ns); err != nil {
		return err
	}
	c.log.Info("namespace emptied and finalized", "namespace", key)
	return nil
}

// finalize removes the "kubernetes" finalizer from ns's spec.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		fin := ns.DeepCopy()
		fin.Spec.Finalizers = slices.DeleteFunc(fin.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		_, err := c.client.CoreV1().Namespaces().Finalize(ctx, fin, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			latest, getErr := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if latest.UID != ns.UID {
				return apierrors.NewNotFound(corev1.Resource("namespaces"), ns.Name)
			}
			ns = latest
		}
		return err
	})
	if err = ignoreNotFound(err); err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	return nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
