package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sync makes one pass over set: it settles the revisions, acts on the pods, writes status and
// trims the history. It returns the status written.
func (c *Controller) sync(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision) (appsv1.StatefulSetStatus, error) {
	current, update, collisions, err := c.revisions(set, revs)
	if err != nil {
		return set.Status, err
	}
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return set.Status, err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return set.Status, err
	}
	now := c.now()
	p := newPlan(set, currentSet, updateSet, current.Name, update.Name, pods, now)
	deleted, manageErr := c.manage(ctx, p)

	st := countStatus(set, pods, current.Name, update.Name, now)
	st.CurrentReplicas -= int32(deleted)
	st.CollisionCount = &collisions
	st.Conditions = set.Status.Conditions
	if err := c.writeStatus(ctx, set, st); err != nil {
		return st, err
	}
	if manageErr != nil {
		return st, manageErr
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, pod := range pods {
		live[revisionOf(pod)] = true
	}
	return st, c.truncateHistory(set, revs, live)
}

// countStatus counts set's pods: replicas are the pods that exist, ready the Running and
// Ready ones, available those ready for minReadySeconds; current and updated count live pods
// by revision. Once every wanted pod is updated and ready, the update revision becomes the
// current one.
func countStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update string, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, CurrentRevision: current, UpdateRevision: update}
	for _, pod := range pods {
		if created(pod) {
			st.Replicas++
		}
		if runningAndReady(pod) {
			st.ReadyReplicas++
			if available(pod, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if created(pod) && !terminating(pod) {
			if revisionOf(pod) == current {
				st.CurrentReplicas++
			}
			if revisionOf(pod) == update {
				st.UpdatedReplicas++
			}
		}
	}
	want := int32(replicas(set))
	if st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// writeStatus writes st if it differs from set's status.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	set = set.DeepCopy()
	set.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}
