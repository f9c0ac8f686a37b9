package deployment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/internal/controller"
)

// Condition reasons, as Kubernetes names them (kubectl matches on some of them).
const (
	reasonNewRSCreated      = "NewReplicaSetCreated"
	reasonFoundNewRS        = "FoundNewReplicaSet"
	reasonRSUpdated         = "ReplicaSetUpdated"
	reasonNewRSAvailable    = "NewReplicaSetAvailable"
	reasonTimedOut          = "ProgressDeadlineExceeded"
	reasonFailedRSCreate    = "ReplicaSetCreateError"
	reasonPaused            = "DeploymentPaused"
	reasonResumed           = "DeploymentResumed"
	reasonMinimumAvailable  = "MinimumReplicasAvailable"
	reasonMinimumUnavailabe = "MinimumReplicasUnavailable"
)

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != int32(^uint32(0)>>1)
}

func condition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, now time.Time, reason, msg string) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: status, LastUpdateTime: ts, LastTransitionTime: ts, Reason: reason, Message: msg}
}

// setCondition puts c into st, keeping the transition time if the status did not change and
// leaving st alone if nothing but the times would change.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := condition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// calculateStatus sums the ReplicaSets' status into d's and sets the Available condition.
func (r *rollout) calculateStatus(newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	d := r.d
	st := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
	}
	for _, c := range d.Status.Conditions {
		st.Conditions = append(st.Conditions, *c.DeepCopy())
	}
	for _, rs := range r.all {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(0, specReplicas(r.all)-st.AvailableReplicas)
	if st.AvailableReplicas >= replicas(d.Spec.Replicas)-maxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, r.c.now(),
			reasonMinimumAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, r.c.now(),
			reasonMinimumUnavailabe, "Deployment does not have minimum availability."))
	}
	return st
}

// complete reports whether st shows every desired replica updated and available.
func complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	n := replicas(d.Spec.Replicas)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n &&
		st.ObservedGeneration >= d.Generation
}

// progressing reports whether st moved the rollout forward from d's recorded status.
func progressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

// timedOut reports whether the rollout has made no progress for progressDeadlineSeconds.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	c := condition(*st, appsv1.DeploymentProgressing)
	if c == nil || !hasProgressDeadline(d) || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	deadline := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// syncRolloutStatus writes the status of a rolling Deployment, with the Progressing
// condition, and asks to be called back at the progress deadline.
func (r *rollout) syncRolloutStatus(ctx context.Context, newRS *appsv1.ReplicaSet) error {
	d := r.d
	st := r.calculateStatus(newRS)
	now := r.c.now()
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := condition(st, appsv1.DeploymentProgressing)
	isComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !isComplete {
		name := ""
		if newRS != nil {
			name = newRS.Name
		}
		switch {
		case complete(d, &st):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, now,
				reasonNewRSAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", name)))
		case progressing(d, &st):
			// Progress moves the deadline: always refresh lastUpdateTime.
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, now,
				reasonRSUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", name))
			if cur != nil && cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			st.Conditions = append(st.Conditions, c)
		case timedOut(d, &st, now):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, now,
				reasonTimedOut, fmt.Sprintf("ReplicaSet %q has timed out progressing.", name)))
		}
	}
	if !apiequality.Semantic.DeepEqual(d.Status, st) {
		d.Status = st
		if err := r.updateStatus(ctx); err != nil {
			return err
		}
	}
	return r.requeueAtDeadline(&st, now)
}

// requeueAtDeadline asks for the Deployment again when its rollout would time out.
func (r *rollout) requeueAtDeadline(st *appsv1.DeploymentStatus, now time.Time) error {
	c := condition(*st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(r.d) || c == nil || c.Reason == reasonNewRSAvailable || c.Reason == reasonTimedOut {
		return nil
	}
	if complete(r.d, st) {
		return nil
	}
	after := c.LastUpdateTime.Add(time.Duration(*r.d.Spec.ProgressDeadlineSeconds)*time.Second).Sub(now) + time.Second
	return controller.RequeueAfter(max(after, time.Second))
}

// syncStatusOnly writes the summed status without touching the rollout.
func (r *rollout) syncStatusOnly(ctx context.Context) error {
	newRS, _ := split(r.d, r.all)
	st := r.calculateStatus(newRS)
	if apiequality.Semantic.DeepEqual(r.d.Status, st) {
		return nil
	}
	r.d.Status = st
	return r.updateStatus(ctx)
}

// updateStatus writes r.d's status and keeps what the server returns.
func (r *rollout) updateStatus(ctx context.Context) error {
	updated, err := r.c.client.AppsV1().Deployments(r.d.Namespace).UpdateStatus(ctx, r.d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of deployment %s/%s: %w", r.d.Namespace, r.d.Name, err)
	}
	r.d = updated
	return nil
}
