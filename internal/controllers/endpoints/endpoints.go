package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	endpointsliceutil "k8s.io/endpointslice/util"
	endpointsutil "k8s.io/kubernetes/pkg/api/v1/endpoints"

	"github.com/gantryhq/gantry/internal/controller"
)

// Upstream's names.
const (
	// LabelManagedBy marks the Endpoints this controller writes.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// EndpointsControllerName is LabelManagedBy's value.
	EndpointsControllerName = "endpoint-controller"
	// maxAddresses is the most addresses an Endpoints object holds.
	maxAddresses = 1000
)

const workers = 2

// Endpoints keeps the Endpoints object of every Service with a selector.
type Endpoints struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     *controller.Controller
	triggers  *endpointsliceutil.TriggerTimeTracker
	log       *slog.Logger
}

// NewEndpoints returns the Endpoints controller over factory's informers. The caller starts
// factory after constructing everything.
func NewEndpoints(client kubernetes.Interface, factory informers.SharedInformerFactory) *Endpoints {
	svcInformer := factory.Core().V1().Services()
	podInformer := factory.Core().V1().Pods()
	epInformer := factory.Core().V1().Endpoints()
	e := &Endpoints{
		client:    client,
		services:  svcInformer.Lister(),
		pods:      podInformer.Lister(),
		endpoints: epInformer.Lister(),
		synced:    []cache.InformerSynced{svcInformer.Informer().HasSynced, podInformer.Informer().HasSynced, epInformer.Informer().HasSynced},
		triggers:  endpointsliceutil.NewTriggerTimeTracker(),
		log:       slog.Default().With("controller", "endpoints"),
	}
	e.queue = controller.New("endpoints", e)
	svcInformer.Informer().AddEventHandler(e.queue.Handler())
	podInformer.Informer().AddEventHandler(podHandler(e.services, e.queue.EnqueueKey))
	// An Endpoints object deleted by someone else comes back.
	epInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: e.queue.Enqueue})
	return e
}

// Run reconciles until ctx is done.
func (e *Endpoints) Run(ctx context.Context) error {
	return e.queue.Run(ctx, workers, e.synced...)
}

// Reconcile writes the Endpoints of the Service named by key.
func (e *Endpoints) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	svc, err := e.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints.
		e.triggers.DeleteService(namespace, name)
		err := e.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := e.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Computed on every pass so that the tracker follows every change, written or not.
	trigger := e.triggers.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	subsets := endpointsutil.RepackSubsets(subsetsFor(svc, pods))

	cur, err := e.endpoints.Endpoints(namespace).Get(name)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return err
	}
	if create {
		cur = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	}
	want := cur.DeepCopy()
	want.Subsets = subsets
	want.Labels = endpointsLabels(svc)
	if want.Annotations == nil {
		want.Annotations = map[string]string{}
	}
	if truncate(want) {
		want.Annotations[corev1.EndpointsOverCapacity] = "truncated"
	} else {
		delete(want.Annotations, corev1.EndpointsOverCapacity)
	}
	if !create && apiequality.Semantic.DeepEqual(endpointsutil.RepackSubsets(cur.Subsets), want.Subsets) &&
		maps.Equal(cur.Labels, want.Labels) && cur.Annotations[corev1.EndpointsOverCapacity] == want.Annotations[corev1.EndpointsOverCapacity] {
		return nil
	}
	if !trigger.IsZero() {
		want.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	} else {
		delete(want.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if create {
		_, err = e.client.CoreV1().Endpoints(namespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
	} else {
		_, err = e.client.CoreV1().Endpoints(namespace).Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	return nil
}

// endpointsLabels are the Service's labels, the headless marker and the managed-by label.
func endpointsLabels(svc *corev1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	delete(l, corev1.IsHeadlessService)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.IsHeadlessService] = ""
	}
	l[LabelManagedBy] = EndpointsControllerName
	return l
}
