package endpoints

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/endpointslice"
	endpointsliceutil "k8s.io/endpointslice/util"
	"k8s.io/klog/v2"

	"github.com/gantryhq/gantry/internal/controller"
)

// Upstream's names and limits.
const (
	// SliceControllerName is the endpointslice.kubernetes.io/managed-by value of the slices
	// this controller writes.
	SliceControllerName = "endpointslice-controller.k8s.io"
	// maxEndpointsPerSlice is kube-controller-manager's default --max-endpoints-per-slice.
	maxEndpointsPerSlice = 100
)

// EndpointSlices keeps the EndpointSlices of every Service with a selector.
type EndpointSlices struct {
	client     kubernetes.Interface
	services   corelisters.ServiceLister
	pods       corelisters.PodLister
	slices     discoverylisters.EndpointSliceLister
	synced     []cache.InformerSynced
	queue      *controller.Controller
	tracker    *endpointsliceutil.EndpointSliceTracker
	triggers   *endpointsliceutil.TriggerTimeTracker
	reconciler *endpointslice.Reconciler
	log        *slog.Logger
}

// NewSlices returns the EndpointSlice controller over factory's informers. The caller starts
// factory after constructing everything.
func NewSlices(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *EndpointSlices {
	svcInformer := factory.Core().V1().Services()
	podInformer := factory.Core().V1().Pods()
	nodeInformer := factory.Core().V1().Nodes()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	c := &EndpointSlices{
		client:   client,
		services: svcInformer.Lister(),
		pods:     podInformer.Lister(),
		slices:   sliceInformer.Lister(),
		synced: []cache.InformerSynced{svcInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced},
		tracker:  endpointsliceutil.NewEndpointSliceTracker(),
		triggers: endpointsliceutil.NewTriggerTimeTracker(),
		log:      slog.Default().With("controller", "endpointslice"),
	}
	// No topology cache: topology-aware hints are not computed.
	c.reconciler = endpointslice.NewReconciler(client, nodeInformer.Lister(), maxEndpointsPerSlice, c.tracker, nil, recorder, SliceControllerName)
	c.queue = controller.New("endpointslice", c)
	svcInformer.Informer().AddEventHandler(c.queue.Handler())
	podInformer.Informer().AddEventHandler(podHandler(c.services, c.queue.EnqueueKey))
	sliceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, obj any) { c.sliceChanged(obj) },
		DeleteFunc: c.sliceDeleted,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *EndpointSlices) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// sliceChanged queues the Service of one of our slices that changed in a way we did not
// write (someone else edited it), so that it is put back.
func (c *EndpointSlices) sliceChanged(obj any) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !c.reconciler.ManagedByController(slice) {
		return
	}
	if c.tracker.ShouldSync(slice) {
		c.enqueueSliceService(slice)
	}
}

// sliceDeleted queues the Service of one of our slices deleted by someone else.
func (c *EndpointSlices) sliceDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !c.reconciler.ManagedByController(slice) || !c.tracker.Has(slice) {
		return
	}
	// HandleDeletion is true for a deletion the controller asked for.
	if !c.tracker.HandleDeletion(slice) {
		c.enqueueSliceService(slice)
	}
}

func (c *EndpointSlices) enqueueSliceService(slice *discoveryv1.EndpointSlice) {
	if svc := slice.Labels[discoveryv1.LabelServiceName]; svc != "" {
		c.queue.EnqueueKey(slice.Namespace + "/" + svc)
	}
}

// Reconcile brings the EndpointSlices of the Service named by key up to date.
func (c *EndpointSlices) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The slices are owned by the Service: the garbage collector deletes them.
		c.triggers.DeleteService(namespace, name)
		c.reconciler.DeleteService(namespace, name)
		c.tracker.DeleteService(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	sel := labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: SliceControllerName}.AsSelectorPreValidated()
	all, err := c.slices.EndpointSlices(namespace).List(sel)
	if err != nil {
		return err
	}
	var slices []*discoveryv1.EndpointSlice
	for _, s := range all {
		// A slice being deleted would hold the reconciler up; it is going anyway.
		if s.DeletionTimestamp == nil {
			slices = append(slices, s)
		}
	}
	if c.tracker.StaleSlices(svc, slices) {
		return fmt.Errorf("endpointslices of service %s: informer cache is behind the controller's writes", key)
	}
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	if err := c.reconciler.Reconcile(klog.FromContext(ctx), svc, pods, slices, trigger); err != nil {
		return fmt.Errorf("reconcile endpointslices of service %s: %w", key, err)
	}
	return nil
}
