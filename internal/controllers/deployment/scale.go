package deployment

import (
	"context"
	"math"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// sync scales without rolling (paused Deployments, scaling events) and writes status.
func (r *rollout) sync(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	if err := r.scaleAll(ctx, newRS, old); err != nil {
		return err
	}
	if r.d.Spec.Paused {
		if err := r.cleanup(ctx, r.old(old)); err != nil {
			return err
		}
	}
	if newRS != nil {
		newRS, _ = split(r.d, r.all)
	}
	st := r.calculateStatus(newRS)
	if apiequality.Semantic.DeepEqual(r.d.Status, st) {
		return nil
	}
	r.d.Status = st
	return r.updateStatus(ctx)
}

// isScalingEvent reports whether an active ReplicaSet was last sized for a different
// spec.replicas than the Deployment's.
func (r *rollout) isScalingEvent(ctx context.Context) (bool, error) {
	if _, _, err := r.replicaSets(ctx, false); err != nil {
		return false, err
	}
	want := replicas(r.d.Spec.Replicas)
	for _, rs := range r.all {
		if replicas(rs.Spec.Replicas) == 0 {
			continue
		}
		v, ok := rs.Annotations[desiredReplicasAnnotation]
		if !ok {
			continue
		}
		if desired, err := strconv.Atoi(v); err == nil && int32(desired) != want {
			return true, nil
		}
	}
	return false, nil
}

// checkPaused keeps the Progressing condition in step with spec.paused.
func (r *rollout) checkPaused(ctx context.Context) error {
	if !hasProgressDeadline(r.d) {
		return nil
	}
	c := condition(r.d.Status, appsv1.DeploymentProgressing)
	if c != nil && c.Reason == reasonTimedOut {
		return nil
	}
	paused := c != nil && c.Reason == reasonPaused
	switch {
	case r.d.Spec.Paused && !paused:
		setCondition(&r.d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, r.c.now(),
			reasonPaused, "Deployment is paused"))
	case !r.d.Spec.Paused && paused:
		setCondition(&r.d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, r.c.now(),
			reasonResumed, "Deployment is resumed"))
	default:
		return nil
	}
	return r.updateStatus(ctx)
}

func active(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range sets {
		if rs != nil && replicas(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// scaleAll resizes the ReplicaSets for a new spec.replicas: the only active one takes it all;
// a saturated new ReplicaSet leaves the old ones nothing; otherwise (RollingUpdate) the
// change is shared in proportion to each ReplicaSet's size, leftovers to the largest.
func (r *rollout) scaleAll(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	d := r.d
	want := replicas(d.Spec.Replicas)
	if target := activeOrLatest(newRS, old); target != nil {
		if replicas(target.Spec.Replicas) == want {
			return nil
		}
		_, _, err := r.scale(ctx, target, want)
		return err
	}
	if saturated(d, newRS) {
		for _, rs := range active(old) {
			if _, _, err := r.scale(ctx, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	sets := active(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	var allowed int32
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - specReplicas(sets)
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := replicas(sets[i].Spec.Replicas), replicas(sets[j].Spec.Replicas)
		if a != b {
			return a > b
		}
		ta, tb := sets[i].CreationTimestamp, sets[j].CreationTimestamp
		if toAdd > 0 {
			return tb.Before(&ta) // scale up: newer first
		}
		return ta.Before(&tb) // scale down: older first
	})
	sizes := make([]int32, len(sets))
	var added int32
	for i, rs := range sets {
		sizes[i] = replicas(rs.Spec.Replicas)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range sets {
		if i == 0 && toAdd != 0 {
			sizes[0] = max(0, sizes[0]+toAdd-added)
		}
		if _, _, err := r.scale(ctx, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// activeOrLatest returns the only active ReplicaSet, or, when none is active, the new one or
// else the newest old one; nil when several are active.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	sortOldestFirst(sorted)
	sets := active(append(sorted, newRS))
	switch len(sets) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[len(sorted)-1]
	case 1:
		return sets[0]
	}
	return nil
}

// saturated reports whether the new ReplicaSet alone runs every desired replica.
func saturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want := replicas(d.Spec.Replicas)
	desired, err := strconv.Atoi(rs.Annotations[desiredReplicasAnnotation])
	return err == nil && int32(desired) == want && replicas(rs.Spec.Replicas) == want && rs.Status.AvailableReplicas == want
}

// proportion is rs's share of toAdd replicas, given that added were handed out already.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicas(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

// fraction is how much rs would grow (or shrink) if it kept its share of the Deployment's
// previous size, recorded in max-replicas, at the new size.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	n := replicas(rs.Spec.Replicas)
	if replicas(d.Spec.Replicas) == 0 {
		return -n
	}
	total := replicas(d.Spec.Replicas) + maxSurge(d)
	annotated := d.Status.Replicas
	if v, err := strconv.Atoi(rs.Annotations[maxReplicasAnnotation]); err == nil {
		annotated = int32(v)
	}
	if annotated == 0 {
		return 0
	}
	return int32(math.Round(float64(n*total)/float64(annotated))) - n
}
