package daemonset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryhq/gantry/internal/controller"
)

// claim returns the objects of all that ds owns, after adopting matching orphans and
// releasing owned objects that no longer match.
func claim[T metav1.Object](ctx context.Context, c *Controller, ds *appsv1.DaemonSet, sel labels.Selector, all []T,
	setOwner func(ctx context.Context, obj T, adopt bool) error) ([]T, error) {
	return controller.Claim(ctx, ds, all,
		func(obj T) bool { return sel.Matches(labels.Set(obj.GetLabels())) },
		func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		},
		setOwner)
}

// claimPods returns every pod of ds's namespace that ds owns, finished ones included.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return claim(ctx, c, ds, sel, all, func(ctx context.Context, pod *corev1.Pod, adopt bool) error {
		pod = pod.DeepCopy()
		pod.OwnerReferences = controller.WithControllerRef(pod.OwnerReferences, ds, daemonSetKind, adopt)
		_, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("set owner of pod %s/%s (adopt %v): %w", pod.Namespace, pod.Name, adopt, err)
		}
		return nil
	})
}

// claimRevisions returns the ControllerRevisions ds owns.
func (c *Controller) claimRevisions(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return claim(ctx, c, ds, sel, all, func(ctx context.Context, cr *appsv1.ControllerRevision, adopt bool) error {
		cr = cr.DeepCopy()
		cr.OwnerReferences = controller.WithControllerRef(cr.OwnerReferences, ds, daemonSetKind, adopt)
		_, err := c.client.AppsV1().ControllerRevisions(cr.Namespace).Update(ctx, cr, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("set owner of controllerrevision %s/%s (adopt %v): %w", cr.Namespace, cr.Name, adopt, err)
		}
		return nil
	})
}
