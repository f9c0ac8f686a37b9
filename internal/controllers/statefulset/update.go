package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxUnavailable returns how many replicas a rolling update may take down at once: the
// strategy's maxUnavailable (default 1) scaled to spec.replicas and rounded down, at least 1.
func maxUnavailable(set *appsv1.StatefulSet) (int, error) {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return 1, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxUnavailable, intstr.FromInt32(1)), replicas(set), false)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

func partition(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil {
		return 0
	}
	return int(*ru.Partition)
}

// rollingUpdate deletes replicas not at the update revision, from the highest ordinal down to
// the partition, keeping at most maxUnavailable replicas unavailable; processReplica then
// creates them again from the update template. It returns how many it deleted.
func (c *Controller) rollingUpdate(ctx context.Context, p *plan) (int, error) {
	budget, err := maxUnavailable(p.set)
	if err != nil {
		return 0, err
	}
	lowest := partition(p.set)
	parallel := !p.ordered
	down, downOld := 0, 0
	for _, pod := range p.replicas {
		if p.unavailable(pod) {
			down++
			if parallel && revisionOf(pod) != p.updateRevision && !terminating(pod) {
				downOld++
			}
		}
	}
	if down >= budget && downOld == 0 {
		return 0, nil
	}
	deleted := 0
	outdated := func(i int) bool {
		return revisionOf(p.replicas[i]) != p.updateRevision && !terminating(p.replicas[i])
	}
	if parallel {
		// Old pods that are down already cost nothing to replace: they go first, so that
		// the budget is not spent on healthy pods while broken ones stay broken.
		for i := len(p.replicas) - 1; i >= lowest; i-- {
			if outdated(i) && !available(p.replicas[i], p.set.Spec.MinReadySeconds, p.now) {
				if err := c.removePod(ctx, p.set, p.replicas[i]); err != nil {
					return deleted, err
				}
				deleted++
			}
		}
	}
	for i := len(p.replicas) - 1; i >= lowest && down < budget; i-- {
		if outdated(i) && !p.unavailable(p.replicas[i]) {
			if err := c.removePod(ctx, p.set, p.replicas[i]); err != nil {
				return deleted, err
			}
			deleted++
			down++
		}
	}
	return deleted, nil
}
