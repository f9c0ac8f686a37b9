package serviceaccount

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
)

// Name is the service account every namespace gets.
const Name = "default"

const workers = 2

// Controller ensures the default ServiceAccount of every active namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      *controller.Controller
	log        *slog.Logger
}

// New returns a controller that reads namespaces and service accounts from factory's
// informers and creates service accounts through client. The caller starts factory after
// constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	nsInformer := factory.Core().V1().Namespaces()
	saInformer := factory.Core().V1().ServiceAccounts()
	c := &Controller{
		client:     client,
		namespaces: nsInformer.Lister(),
		accounts:   saInformer.Lister(),
		synced:     []cache.InformerSynced{nsInformer.Informer().HasSynced, saInformer.Informer().HasSynced},
		log:        slog.Default().With("controller", "serviceaccount"),
	}
	c.queue = controller.New("serviceaccount", c)
	nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.Enqueue,
		UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
	})
	saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == Name {
				c.queue.EnqueueKey(sa.Namespace)
			}
		},
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// Reconcile creates the default service account of the namespace named key if it is missing.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, err := c.namespaces.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	switch _, err := c.accounts.ServiceAccounts(key).Get(Name); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: key}}
	_, err = c.client.CoreV1().ServiceAccounts(key).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created", "namespace", key, "serviceaccount", Name)
		return nil
	case apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err),
		apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	case apierrors.IsForbidden(err) && c.terminating(ctx, key):
		return nil
	}
	return err
}

// terminating reads the namespace live: a create refused as Forbidden is expected while the
// namespace is being deleted, and the informer may not have shown that yet.
func (c *Controller) terminating(ctx context.Context, name string) bool {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil)
}
