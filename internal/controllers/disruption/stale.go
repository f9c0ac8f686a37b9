package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
)

// StalePodDisruptionTimeout is how long a pod may carry a True DisruptionTarget condition
// without being deleted before the controller resets the condition to False: the disruption
// that set it (a preemption, an eviction) evidently did not happen.
const StalePodDisruptionTimeout = 2 * time.Minute

// staleDisruption reports whether pod carries a DisruptionTarget condition that may become
// stale, and how long until it is. The kubelet's own condition never goes stale (its
// termination may take any time), nor does one on a pod that is being deleted or finished.
func (c *Controller) staleDisruption(pod *corev1.Pod) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != corev1.DisruptionTarget {
			continue
		}
		if cond.Status != corev1.ConditionTrue || cond.Reason == corev1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(0, StalePodDisruptionTimeout-c.now().Sub(cond.LastTransitionTime.Time))
	}
	return false, 0
}

// watchStale queues a pod with a DisruptionTarget condition for when the condition goes stale.
func (c *Controller) watchStale(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if has, after := c.staleDisruption(pod); has {
		key, err := cache.MetaNamespaceKeyFunc(pod)
		if err != nil {
			return
		}
		c.stale.EnqueueAfter(key, after)
	}
}

// resetStale sets the stale DisruptionTarget condition of the pod named by key to False.
func (c *Controller) resetStale(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(fmt.Errorf("split key %q: %w", key, err))
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if err != nil {
		// Deleted: the disruption happened after all.
		return nil
	}
	has, after := c.staleDisruption(pod)
	switch {
	case !has:
		return nil
	case after > 0:
		return controller.RequeueAfter(after)
	}
	updated := pod.DeepCopy()
	for i, cond := range updated.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget {
			updated.Status.Conditions[i] = corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionFalse,
				LastTransitionTime: metav1.NewTime(c.now()), ObservedGeneration: pod.Generation}
		}
	}
	if _, err := c.client.CoreV1().Pods(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reset stale DisruptionTarget condition of pod %s: %w", key, err)
	}
	c.log.Info("reset stale DisruptionTarget condition to False", "pod", key)
	return nil
}
