package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// recreate scales every old ReplicaSet to zero, waits until their pods are gone, then brings
// the new ReplicaSet up to spec.replicas.
func (r *rollout) recreate(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	scaledDown := false
	for _, rs := range r.old(old) {
		if replicas(rs.Spec.Replicas) == 0 {
			continue
		}
		scaled, _, err := r.scale(ctx, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return r.syncRolloutStatus(ctx, newRS)
	}
	running, err := r.oldPodsRunning(newRS, r.old(old))
	if err != nil {
		return err
	}
	if running {
		return r.syncRolloutStatus(ctx, newRS)
	}
	if newRS == nil {
		if newRS, old, err = r.replicaSets(ctx, true); err != nil {
			return err
		}
	}
	if replicas(newRS.Spec.Replicas) != replicas(r.d.Spec.Replicas) {
		if _, newRS, err = r.scale(ctx, newRS, replicas(r.d.Spec.Replicas)); err != nil {
			return err
		}
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, r.old(old)); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet still exists (other than one
// that has finished).
func (r *rollout) oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true, nil
		}
	}
	pods, err := r.c.pods.Pods(r.d.Namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	oldUIDs := map[string]bool{}
	for _, rs := range old {
		oldUIDs[string(rs.UID)] = true
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || !oldUIDs[string(ref.UID)] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		return true, nil
	}
	return false, nil
}
