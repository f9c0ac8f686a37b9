package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubernetes/pkg/controller/history"

	"github.com/gantryhq/gantry/internal/controller"
)

// canAdopt confirms with a live read that set is really there and not going away: only such
// a set may take orphans.
func (c *Controller) canAdopt(ctx context.Context, set *appsv1.StatefulSet) (bool, error) {
	if set.DeletionTimestamp != nil {
		return false, nil
	}
	live, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return live.UID == set.UID && live.DeletionTimestamp == nil, nil
}

// adoptRevisions returns set's ControllerRevisions, sorted by revision number, after adopting
// the orphans its selector matches.
func (c *Controller) adoptRevisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	revs, err := c.history.ListControllerRevisions(set, setKind, sel)
	if err != nil {
		return nil, err
	}
	var out, orphans []*appsv1.ControllerRevision
	for _, r := range revs {
		if metav1.GetControllerOf(r) != nil {
			out = append(out, r)
		} else {
			orphans = append(orphans, r)
		}
	}
	if len(orphans) > 0 {
		ok, err := c.canAdopt(ctx, set)
		if err != nil {
			return nil, err
		}
		for _, r := range orphans {
			if !ok {
				break
			}
			adopted, err := c.history.AdoptControllerRevision(set, setKind, r)
			if err != nil {
				return nil, fmt.Errorf("adopt revision %s/%s: %w", r.Namespace, r.Name, err)
			}
			out = append(out, adopted)
		}
	}
	history.SortControllerRevisions(out)
	return out, nil
}

// claimPods returns the pods set owns, terminating and finished ones included, after
// adopting orphans that its selector matches and that are named as its members, and
// releasing owned pods that no longer qualify.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controller.Claim(ctx, set, all,
		func(pod *corev1.Pod) bool {
			return !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) && isMember(set, pod)
		},
		func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		},
		func(ctx context.Context, pod *corev1.Pod, adopt bool) error {
			return c.setPodOwner(ctx, pod, set, adopt)
		})
}

// setPodOwner adopts pod for set or releases it. A pod that vanished is not an error.
func (c *Controller) setPodOwner(ctx context.Context, pod *corev1.Pod, set *appsv1.StatefulSet, adopt bool) error {
	pod = pod.DeepCopy()
	pod.OwnerReferences = controller.WithControllerRef(pod.OwnerReferences, set, setKind, adopt)
	_, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of pod %s/%s (adopt %v): %w", pod.Namespace, pod.Name, adopt, err)
	}
	return nil
}
