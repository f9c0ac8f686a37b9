package replicaset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// status computes rs's status from the pods it owns. A failed resize is reported as the
// ReplicaFailure condition, as upstream does; a successful one clears it.
func (c *Controller) status(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = 0, 0, 0
	tmpl := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	now := c.now()
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if ready(p) {
			st.ReadyReplicas++
			if available(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	st.ObservedGeneration = rs.Generation
	var conds []appsv1.ReplicaSetCondition
	var failure *appsv1.ReplicaSetCondition
	for _, cond := range st.Conditions {
		if cond.Type != appsv1.ReplicaSetReplicaFailure {
			conds = append(conds, cond)
		} else {
			failure = &cond
		}
	}
	if manageErr != nil && failure != nil {
		// Still failing: keep the condition as it is, so a retry does not rewrite status.
		conds = append(conds, *failure)
	} else if manageErr != nil {
		reason := "FailedCreate"
		if rs.Spec.Replicas != nil && int(*rs.Spec.Replicas) < len(pods) {
			reason = "FailedDelete"
		}
		conds = append(conds, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			Reason: reason, Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now),
		})
	}
	st.Conditions = conds
	return st
}

// updateStatus writes st if it differs from rs's status.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) error {
	if apiequality.Semantic.DeepEqual(rs.Status, st) {
		return nil
	}
	rs = rs.DeepCopy()
	rs.Status = st
	err := c.sets.UpdateStatus(ctx, rs)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of %s %s/%s: %w", c.kind, rs.Namespace, rs.Name, err)
	}
	return nil
}
