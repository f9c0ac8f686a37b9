package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// rollingUpdate moves the Deployment one step: scale the new ReplicaSet up within maxSurge,
// or else scale old ones down within maxUnavailable; once complete, clean up history.
func (r *rollout) rollingUpdate(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, true)
	if err != nil {
		return err
	}
	scaledUp, newRS, err := r.reconcileNewReplicaSet(ctx, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return r.syncRolloutStatus(ctx, newRS)
	}
	scaledDown, err := r.reconcileOldReplicaSets(ctx, newRS, r.old(old))
	if err != nil {
		return err
	}
	if scaledDown {
		return r.syncRolloutStatus(ctx, newRS)
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, r.old(old)); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, newRS)
}

// old returns the current copies (after this reconcile's writes) of the ReplicaSets in sets.
func (r *rollout) old(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	names := map[string]bool{}
	for _, rs := range sets {
		names[rs.Name] = true
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range r.all {
		if names[rs.Name] {
			out = append(out, rs)
		}
	}
	return out
}

// reconcileNewReplicaSet scales the new ReplicaSet towards spec.replicas, as far as maxSurge
// allows. It reports whether it scaled up.
func (r *rollout) reconcileNewReplicaSet(ctx context.Context, newRS *appsv1.ReplicaSet) (bool, *appsv1.ReplicaSet, error) {
	want := replicas(r.d.Spec.Replicas)
	cur := replicas(newRS.Spec.Replicas)
	if cur == want {
		return false, newRS, nil
	}
	if cur > want {
		_, rs, err := r.scale(ctx, newRS, want)
		return false, rs, err
	}
	return r.scale(ctx, newRS, newReplicaSetReplicas(r.d, r.all, newRS))
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as maxUnavailable allows:
// first by pods that are not available anyway, then oldest ReplicaSets first. It reports
// whether it scaled anything.
func (r *rollout) reconcileOldReplicaSets(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := replicas(r.d.Spec.Replicas) - maxUnavailable(r.d)
	newUnavailable := replicas(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(r.all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	// Unhealthy replicas cost no availability: remove them first.
	sortOldestFirst(old)
	var cleaned int32
	for i, rs := range old {
		if cleaned >= maxScaledDown {
			break
		}
		n := replicas(rs.Spec.Replicas)
		unhealthy := n - rs.Status.AvailableReplicas
		if n == 0 || unhealthy <= 0 {
			continue
		}
		down := min(unhealthy, maxScaledDown-cleaned)
		_, updated, err := r.scale(ctx, rs, n-down)
		if err != nil {
			return false, err
		}
		old[i] = updated
		cleaned += down
	}
	// Then healthy ones, keeping minAvailable.
	var availableNow int32
	for _, rs := range r.all {
		availableNow += rs.Status.AvailableReplicas
	}
	var scaled int32
	if availableNow > minAvailable {
		budget := availableNow - minAvailable
		for i, rs := range old {
			if scaled >= budget {
				break
			}
			n := replicas(rs.Spec.Replicas)
			if n == 0 {
				continue
			}
			down := min(n, budget-scaled)
			_, updated, err := r.scale(ctx, rs, n-down)
			if err != nil {
				return false, err
			}
			old[i] = updated
			scaled += down
		}
	}
	return cleaned+scaled > 0, nil
}

func sortOldestFirst(sets []*appsv1.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := sets[i].CreationTimestamp, sets[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return sets[i].Name < sets[j].Name
	})
}
