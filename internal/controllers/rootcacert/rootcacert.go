package rootcacert

import (
	"context"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	// Name is the config map every namespace gets.
	Name = "kube-root-ca.crt"
	// Key is the key of the CA bundle in it.
	Key = "ca.crt"
	// DescriptionAnnotation and Description say what the config map is for, in Kubernetes'
	// words.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

const workers = 2

// Controller publishes the cluster CA to every active namespace.
type Controller struct {
	client     kubernetes.Interface
	caPEM      string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	queue      *controller.Controller
	log        *slog.Logger
}

// New returns a controller that publishes caPEM (the cluster CA certificate, PEM) through
// client, reading namespaces and config maps from factory's informers. The caller starts
// factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, caPEM []byte) *Controller {
	nsInformer := factory.Core().V1().Namespaces()
	cmInformer := factory.Core().V1().ConfigMaps()
	c := &Controller{
		client:     client,
		caPEM:      string(caPEM),
		namespaces: nsInformer.Lister(),
		configMaps: cmInformer.Lister(),
		synced:     []cache.InformerSynced{nsInformer.Informer().HasSynced, cmInformer.Informer().HasSynced},
		log:        slog.Default().With("controller", "rootcacert"),
	}
	c.queue = controller.New("rootcacert", c)
	nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.Enqueue,
		UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
	})
	onConfigMap := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == Name {
			c.queue.EnqueueKey(cm.Namespace)
		}
	}
	cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { onConfigMap(obj) },
		DeleteFunc: onConfigMap,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// Reconcile makes the kube-root-ca.crt of the namespace named key hold the CA.
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
	data := map[string]string{Key: c.caPEM}
	cm, err := c.configMaps.ConfigMaps(key).Get(Name)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: key, Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data:       data,
		}
		_, err := c.client.CoreV1().ConfigMaps(key).Create(ctx, cm, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Debug("created", "namespace", key, "configmap", Name)
			return nil
		case apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err),
			apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			return nil
		case apierrors.IsForbidden(err) && c.terminating(ctx, key):
			return nil
		}
		return err
	case err != nil:
		return err
	}
	if maps.Equal(cm.Data, data) && len(cm.BinaryData) == 0 && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data, cm.BinaryData = data, nil
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	// A conflict means the cache is behind: the error retries once it has caught up.
	_, err = c.client.CoreV1().ConfigMaps(key).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: the delete event queues the namespace again
	}
	if err == nil {
		c.log.Debug("restored", "namespace", key, "configmap", Name)
	}
	return err
}

// terminating reads the namespace live: a create refused as Forbidden is expected while the
// namespace is being deleted, and the informer may not have shown that yet.
func (c *Controller) terminating(ctx context.Context, name string) bool {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil)
}
