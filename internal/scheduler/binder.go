package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
)

// Binder writes a placement. Bind must be safe for concurrent use: many bindings are in
// flight at once. An error leaves the pod unbound (the scheduler forgets its assumption and
// retries it with backoff).
type Binder interface {
	Bind(ctx context.Context, pod *v1.Pod, node string) error
}

// Evictor removes a preemption victim. mayViolatePDB says the victim was chosen knowing that
// a PodDisruptionBudget does not allow its eviction (no other placement existed): the
// eviction may then fall back to a plain delete, as upstream's preemption deletes. Otherwise
// a refusal by a budget is returned as an error and the preemption is retried later.
type Evictor interface {
	Evict(ctx context.Context, victim, preemptor *v1.Pod, node string, mayViolatePDB bool) error
}

// StatusWriter updates a pod's status; the scheduler writes the PodScheduled condition and
// status.nominatedNodeName with it.
type StatusWriter interface {
	UpdatePodStatus(ctx context.Context, pod *v1.Pod, status *v1.PodStatus) error
}

// ClientBinder binds through the pods/binding subresource.
type ClientBinder struct{ Client kubernetes.Interface }

// Bind implements Binder.
func (b ClientBinder) Bind(ctx context.Context, pod *v1.Pod, node string) error {
	return b.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}

// ClientEvictor marks a victim with the DisruptionTarget condition, as upstream does, then
// evicts it through pods/eviction (which honours PodDisruptionBudgets and records the
// disruption in them); a victim whose budget was already known to be exhausted is deleted
// if the eviction is refused.
type ClientEvictor struct {
	Client        kubernetes.Interface
	Status        StatusWriter
	SchedulerName string
}

// Evict implements Evictor.
func (e ClientEvictor) Evict(ctx context.Context, victim, preemptor *v1.Pod, node string, mayViolatePDB bool) error {
	status := victim.Status.DeepCopy()
	setCondition(status, v1.PodCondition{
		Type:               v1.DisruptionTarget,
		Status:             v1.ConditionTrue,
		Reason:             v1.PodReasonPreemptionByScheduler,
		Message:            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", e.SchedulerName),
		ObservedGeneration: victim.Generation,
	})
	if err := e.Status.UpdatePodStatus(ctx, victim, status); err != nil {
		return ignoreNotFound(err)
	}
	uid := victim.UID
	opts := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	err := e.Client.PolicyV1().Evictions(victim.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: victim.Namespace, Name: victim.Name},
		DeleteOptions: opts,
	})
	if apierrors.IsTooManyRequests(err) && mayViolatePDB {
		err = e.Client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, *opts)
	}
	return ignoreNotFound(err)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ClientStatusWriter patches pods/status with a strategic merge patch of the difference, as
// upstream's util.PatchPodStatus: only the changed condition travels.
type ClientStatusWriter struct{ Client kubernetes.Interface }

// UpdatePodStatus implements StatusWriter.
func (w ClientStatusWriter) UpdatePodStatus(ctx context.Context, pod *v1.Pod, status *v1.PodStatus) error {
	oldData, err := json.Marshal(v1.Pod{Status: pod.Status})
	if err != nil {
		return err
	}
	newData, err := json.Marshal(v1.Pod{Status: *status})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, &v1.Pod{})
	if err != nil {
		return fmt.Errorf("patch for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if string(patch) == "{}" {
		return nil
	}
	_, err = w.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// setCondition sets c in status, keeping its transition time when the status did not
// change, and reports whether anything changed (upstream's podutil.UpdatePodCondition).
func setCondition(status *v1.PodStatus, c v1.PodCondition) bool {
	c.LastTransitionTime = metav1.Now()
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		same := old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message &&
			old.ObservedGeneration == c.ObservedGeneration && old.LastProbeTime.Equal(&c.LastProbeTime)
		*old = c
		return !same
	}
	status.Conditions = append(status.Conditions, c)
	return true
}

var (
	_ Binder       = ClientBinder{}
	_ Evictor      = ClientEvictor{}
	_ StatusWriter = ClientStatusWriter{}
)
