package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cleanup deletes old ReplicaSets beyond revisionHistoryLimit, lowest revision first, among
// those scaled to zero with no pods left.
func (r *rollout) cleanup(ctx context.Context, old []*appsv1.ReplicaSet) error {
	if r.d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*r.d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(cleanable, func(i, j int) bool {
		a, b := revision(cleanable[i]), revision(cleanable[j])
		if a != b {
			return a < b
		}
		ta, tb := cleanable[i].CreationTimestamp, cleanable[j].CreationTimestamp
		return ta.Before(&tb)
	})
	for _, rs := range cleanable[:diff] {
		if rs.Status.Replicas != 0 || replicas(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
		r.c.log.Debug("deleted old replicaset", "replicaset", rs.Namespace+"/"+rs.Name, "revision", revision(rs))
	}
	return nil
}
