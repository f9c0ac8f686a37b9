package daemonset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// owner returns the key of the DaemonSet that ref names in namespace, if it exists with the
// same UID.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref == nil || ref.Kind != daemonSetKind.Kind {
		return "", false
	}
	ds, err := c.sets.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return "", false
	}
	return namespace + "/" + ds.Name, true
}

// enqueueMatching queues every DaemonSet of namespace whose selector matches lbls: one of
// them may adopt the orphan that has them.
func (c *Controller) enqueueMatching(namespace string, lbls map[string]string) {
	sets, err := c.sets.DaemonSets(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		c.queue.Enqueue(ds)
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
	c.enqueueMatching(pod.Namespace, pod.Labels)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if pod.DeletionTimestamp != nil {
		// The pod no longer counts: its node may get a new one now.
		c.deletePod(pod)
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
			c.enqueueMatching(pod.Namespace, pod.Labels)
		}
		return
	}
	key, ok := c.owner(pod.Namespace, ref)
	if !ok {
		return
	}
	c.queue.EnqueueKey(key)
	// A pod that just became ready becomes available minReadySeconds later.
	if !podutil.IsPodReady(old) && podutil.IsPodReady(pod) {
		if ds, err := c.sets.DaemonSets(pod.Namespace).Get(ref.Name); err == nil && ds.Spec.MinReadySeconds > 0 {
			c.queue.EnqueueAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
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

// revisionChanged queues the DaemonSet that owns a ControllerRevision, or those that may
// adopt an orphan one.
func (c *Controller) revisionChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(cr); ref != nil {
		if key, ok := c.owner(cr.Namespace, ref); ok {
			c.queue.EnqueueKey(key)
		}
		return
	}
	c.enqueueMatching(cr.Namespace, cr.Labels)
}

// forEachSet calls fn with every DaemonSet and its eligibility.
func (c *Controller) forEachSet(fn func(ds *appsv1.DaemonSet, e eligibility)) {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		fn(ds, newEligibility(ds))
	}
}

func (c *Controller) addNode(obj any) {
	node := obj.(*corev1.Node)
	c.forEachSet(func(ds *appsv1.DaemonSet, e eligibility) {
		if shouldRun, _ := e.check(node); shouldRun {
			c.queue.Enqueue(ds)
		}
	})
}

// updateNode queues the DaemonSets whose verdict on the node changed. Heartbeats and other
// status writes change nothing that eligibility reads, and are skipped.
func (c *Controller) updateNode(oldObj, newObj any) {
	old, node := oldObj.(*corev1.Node), newObj.(*corev1.Node)
	if labels.Equals(old.Labels, node.Labels) && apiequality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) {
		return
	}
	c.forEachSet(func(ds *appsv1.DaemonSet, e eligibility) {
		run0, cont0 := e.check(old)
		run1, cont1 := e.check(node)
		if run0 != run1 || cont0 != cont1 {
			c.queue.Enqueue(ds)
		}
	})
}

// deleteNode queues the DaemonSets that wanted a pod on the node: they want one less.
func (c *Controller) deleteNode(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.forEachSet(func(ds *appsv1.DaemonSet, e eligibility) {
		if shouldRun, _ := e.check(node); shouldRun {
			c.queue.Enqueue(ds)
		}
	})
}
