package statefulset

import (
	"context"
	"fmt"
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
	"k8s.io/client-go/tools/events"
	"k8s.io/kubernetes/pkg/controller/history"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 5

// Controller runs the pods of every StatefulSet.
type Controller struct {
	client  kubernetes.Interface
	sets    appslisters.StatefulSetLister
	pods    corelisters.PodLister
	claims  corelisters.PersistentVolumeClaimLister
	history history.Interface
	synced  []cache.InformerSynced
	queue   *controller.Controller
	record  events.EventRecorder
	now     func() time.Time
}

// New returns a controller that reads StatefulSets, pods, claims and ControllerRevisions from
// factory's informers, writes through client and records events with recorder (upstream's
// reporting controller is "statefulset-controller"). The caller starts factory after
// constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder events.EventRecorder) *Controller {
	setInformer := factory.Apps().V1().StatefulSets()
	podInformer := factory.Core().V1().Pods()
	claimInformer := factory.Core().V1().PersistentVolumeClaims()
	revInformer := factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:  client,
		sets:    setInformer.Lister(),
		pods:    podInformer.Lister(),
		claims:  claimInformer.Lister(),
		history: history.NewHistory(client, revInformer.Lister(), nil),
		synced: []cache.InformerSynced{setInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			claimInformer.Informer().HasSynced, revInformer.Informer().HasSynced},
		record: recorder,
		now:    time.Now,
	}
	c.queue = controller.New("statefulset", c)
	setInformer.Informer().AddEventHandler(c.queue.Handler())
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// owner returns the StatefulSet that ref names in namespace, if it exists with the same UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) (*appsv1.StatefulSet, bool) {
	if ref == nil || ref.Kind != setKind.Kind {
		return nil, false
	}
	set, err := c.sets.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil, false
	}
	return set, true
}

// enqueueMatching queues every StatefulSet whose selector matches the orphan pod.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	sets, err := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Enqueue(set)
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set, ok := c.owner(pod.Namespace, ref); ok {
			c.queue.Enqueue(set)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == pod.ResourceVersion {
		return
	}
	oldRef, ref := metav1.GetControllerOf(old), metav1.GetControllerOf(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if set, ok := c.owner(old.Namespace, oldRef); ok {
			c.queue.Enqueue(set)
		}
	}
	if ref == nil {
		if !labels.Equals(old.Labels, pod.Labels) || oldRef != nil {
			c.enqueueMatching(pod)
		}
		return
	}
	set, ok := c.owner(pod.Namespace, ref)
	if !ok {
		return
	}
	c.queue.Enqueue(set)
	// A pod that just became ready becomes available minReadySeconds later.
	if !ready(old) && ready(pod) && set.Spec.MinReadySeconds > 0 {
		c.queue.EnqueueAfter(set.Namespace+"/"+set.Name, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
}

func (c *Controller) deletePod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if set, ok := c.owner(pod.Namespace, metav1.GetControllerOf(pod)); ok {
		c.queue.Enqueue(set)
	}
}

// Reconcile drives the StatefulSet named by key ("namespace/name") towards its spec and
// records its status.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	set, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return controller.Terminal(fmt.Errorf("statefulset %s: selector: %w", key, err))
	}
	revs, err := c.adoptRevisions(ctx, set, sel)
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return err
	}
	st, err := c.sync(ctx, set.DeepCopy(), pods, revs)
	if err != nil {
		return err
	}
	if set.Spec.MinReadySeconds > 0 {
		if d := nextAvailable(pods, set.Spec.MinReadySeconds, c.now()); d > 0 && st.ReadyReplicas != st.AvailableReplicas {
			return controller.RequeueAfter(d)
		}
	}
	return nil
}

// nextAvailable returns how long until the next ready pod becomes available, or 0.
func nextAvailable(pods []*corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	var next time.Duration
	for _, p := range pods {
		if d := availableIn(p, minReadySeconds, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}
