package job

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
)

// podsFor returns every pod job controls, finished ones included, after adopting orphans its
// selector matches and releasing owned pods it no longer matches.
func (c *Controller) podsFor(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, controller.Terminal(fmt.Errorf("%s: selector: %w", describe(job), err))
	}
	all, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controller.Claim(ctx, job, all,
		func(pod *corev1.Pod) bool { return !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) },
		func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		},
		func(ctx context.Context, pod *corev1.Pod, adopt bool) error { return c.setOwner(ctx, pod, job, adopt) })
}

// setOwner adopts pod for job, adding the tracking finalizer, or releases it, removing the
// finalizer. A pod that vanished is not an error.
func (c *Controller) setOwner(ctx context.Context, pod *corev1.Pod, job *batchv1.Job, adopt bool) error {
	pod = pod.DeepCopy()
	pod.OwnerReferences = controller.WithControllerRef(pod.OwnerReferences, job, jobKind, adopt)
	pod.Finalizers = withoutTrackingFinalizer(pod.Finalizers)
	if adopt {
		pod.Finalizers = append(pod.Finalizers, batchv1.JobTrackingFinalizer)
	}
	_, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of pod %s/%s to %s (adopt %v): %w", pod.Namespace, pod.Name, describe(job), adopt, err)
	}
	return nil
}

func withoutTrackingFinalizer(finalizers []string) []string {
	var out []string
	for _, f := range finalizers {
		if f != batchv1.JobTrackingFinalizer {
			out = append(out, f)
		}
	}
	return out
}

// removeFinalizerPatch is a strategic merge patch that removes only the tracking finalizer.
var removeFinalizerPatch = func() []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
	}})
	return b
}()

// removeFinalizer removes the tracking finalizer from pod. A pod that is gone is done.
func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// reconcileOrphan removes the tracking finalizer from a pod no Job tracks any more (its Job
// was deleted, or it never had one), so that it can go away.
func (c *Controller) reconcileOrphan(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if _, ok := c.ownerKey(ns, ref); ok {
			return nil // its Job tracks it
		}
	} else if c.selectedByLiveJob(pod) {
		return nil // a Job may adopt it
	}
	return c.removeFinalizer(ctx, pod)
}

// selectedByLiveJob reports whether an unfinished Job's selector matches pod.
func (c *Controller) selectedByLiveJob(pod *corev1.Pod) bool {
	jobs, err := c.jobs.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return true
	}
	for _, job := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) && finishedCondition(job) == nil {
			return true
		}
	}
	return false
}
