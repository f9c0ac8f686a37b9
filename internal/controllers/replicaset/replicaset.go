package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 5

// Controller keeps the pods of every ReplicaSet (or of every owner of another kind that
// Owners presents as ReplicaSets).
type Controller struct {
	client kubernetes.Interface
	sets   Owners
	// kind names the owner kind in logs and errors: "replicaset", "replicationcontroller".
	kind   string
	pods   corelisters.PodLister
	synced []cache.InformerSynced
	queue  *controller.Controller
	exp    *controller.Expectations
	events record.EventRecorder
	now    func() time.Time
	log    *slog.Logger
}

// New returns a controller that reads ReplicaSets and pods from factory's informers, writes
// pods and ReplicaSet status through client, and records pod creations and deletions with
// recorder. The caller starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewFor(ReplicaSets(client, factory), client, factory, recorder)
}

// NewFor is New for the owners of another kind, such as ReplicationControllers.
func NewFor(owners Owners, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	podInformer := factory.Core().V1().Pods()
	kind := strings.ToLower(owners.Kind().Kind)
	c := &Controller{
		client: client,
		sets:   owners,
		kind:   kind,
		pods:   podInformer.Lister(),
		synced: []cache.InformerSynced{owners.Informer().HasSynced, podInformer.Informer().HasSynced},
		exp:    controller.NewExpectations(),
		events: recorder,
		now:    time.Now,
		log:    slog.Default().With("controller", kind),
	}
	c.queue = controller.New(kind, c)
	owners.Informer().AddEventHandler(c.queue.Handler())
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

// owner returns the key of the ReplicaSet that ref names in namespace, if it exists with
// the same UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref == nil || ref.Kind != c.sets.Kind().Kind {
		return "", false
	}
	rs, err := c.sets.Get(namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return "", false
	}
	return namespace + "/" + rs.Name, true
}

// enqueueMatching queues every ReplicaSet whose selector matches the orphan pod.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	sets, err := c.sets.List(pod.Namespace)
	if err != nil {
		return
	}
	for _, rs := range sets {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Enqueue(rs)
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if key, ok := c.owner(pod.Namespace, ref); ok {
			c.exp.Created(key)
			c.queue.EnqueueKey(key)
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
	if pod.DeletionTimestamp != nil {
		// Graceful deletion: the pod no longer counts, so the ReplicaSet may replace it now.
		c.deletePod(pod)
		if !labels.Equals(old.Labels, pod.Labels) {
			c.deletePod(old)
		}
		return
	}
	oldRef, ref := metav1.GetControllerOf(old), metav1.GetControllerOf(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if key, ok := c.owner(old.Namespace, oldRef); ok {
			c.queue.EnqueueKey(key)
		}
	}
	if ref == nil {
		if !labels.Equals(old.Labels, pod.Labels) || oldRef != nil {
			c.enqueueMatching(pod)
		}
		return
	}
	key, ok := c.owner(pod.Namespace, ref)
	if !ok {
		return
	}
	c.queue.EnqueueKey(key)
	// A pod that just became ready becomes available minReadySeconds later.
	if !ready(old) && ready(pod) {
		if rs, err := c.sets.Get(pod.Namespace, ref.Name); err == nil && rs.Spec.MinReadySeconds > 0 {
			c.queue.EnqueueAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
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
	if key, ok := c.owner(pod.Namespace, metav1.GetControllerOf(pod)); ok {
		c.exp.Deleted(key, string(pod.UID))
		c.queue.EnqueueKey(key)
	}
}

// Reconcile drives the ReplicaSet named by key ("namespace/name") towards spec.replicas
// pods and records its status.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	rs, err := c.sets.Get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return controller.Terminal(fmt.Errorf("%s %s: selector: %w", c.kind, key, err))
	}
	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	// Decide whether to resize before claiming, as upstream does: an adopted pod was already
	// visible to the informer, so it does not disturb the expectations.
	needsSync := c.exp.Satisfied(key) && rs.DeletionTimestamp == nil
	pods, err := c.claim(ctx, rs, sel, all)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync {
		manageErr = c.manage(ctx, key, rs, pods)
	}
	st := c.status(rs, pods, manageErr)
	if err := c.updateStatus(ctx, rs, st); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	if rs.Spec.MinReadySeconds > 0 && st.ReadyReplicas != st.AvailableReplicas {
		return controller.RequeueAfter(time.Duration(rs.Spec.MinReadySeconds) * time.Second)
	}
	return nil
}

// claim returns the active pods rs owns after adopting matching orphans and releasing owned
// pods that no longer match.
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, all []*corev1.Pod) ([]*corev1.Pod, error) {
	var pods []*corev1.Pod
	for _, pod := range all {
		if active(pod) {
			pods = append(pods, pod)
		}
	}
	return controller.Claim(ctx, rs, pods,
		func(pod *corev1.Pod) bool { return !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) },
		func(ctx context.Context) (metav1.Object, error) { return c.sets.GetLive(ctx, rs.Namespace, rs.Name) },
		func(ctx context.Context, pod *corev1.Pod, adopt bool) error { return c.setOwner(ctx, pod, rs, adopt) })
}

// setOwner adopts pod for rs or releases it. A pod that vanished is not an error.
func (c *Controller) setOwner(ctx context.Context, pod *corev1.Pod, rs *appsv1.ReplicaSet, adopt bool) error {
	pod = pod.DeepCopy()
	pod.OwnerReferences = controller.WithControllerRef(pod.OwnerReferences, rs, c.sets.Kind(), adopt)
	_, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of pod %s/%s (adopt %v): %w", pod.Namespace, pod.Name, adopt, err)
	}
	return nil
}
