package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/gantryhq/gantry/internal/controller"
)

// reconcileEvictions deletes the pods on node that have outstayed their tolerations of its
// NoExecute taints, and comes back when the next one will have.
func (c *Controller) reconcileEvictions(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node)
	if len(taints) == 0 {
		return nil
	}
	objs, err := c.pods.ByIndex(podsByNode, name)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	var next time.Time
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		at, ok := evictionTime(pod, taints, now)
		if !ok {
			continue
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if err := c.evict(ctx, pod); err != nil {
			return err
		}
	}
	if next.IsZero() {
		return nil
	}
	return controller.RequeueAfter(next.Sub(now))
}

// evictionTime is when pod must leave a node with taints: now if it does not tolerate one of
// them, else the earliest time a toleration it uses runs out. ok is false if it may stay for
// good.
func evictionTime(pod *corev1.Pod, taints []corev1.Taint, now time.Time) (at time.Time, ok bool) {
	for i := range taints {
		t := &taints[i]
		added := now
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		tolerated, forever := false, false
		var seconds int64
		for j := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[j]
			if !tol.ToleratesTaint(klog.Background(), t, false) {
				continue
			}
			if tol.TolerationSeconds == nil {
				forever = true
				break
			}
			s := max(*tol.TolerationSeconds, 0)
			if !tolerated || s < seconds {
				seconds = s
			}
			tolerated = true
		}
		switch {
		case forever:
			continue
		case !tolerated:
			return now, true
		}
		deadline := added.Add(time.Duration(seconds) * time.Second)
		if !ok || deadline.Before(at) {
			at, ok = deadline, true
		}
	}
	return at, ok
}

// evict marks pod as disrupted and deletes it gracefully.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(c.clock.Now())}
	if i := podConditionIndex(p, corev1.DisruptionTarget); i >= 0 {
		p.Status.Conditions[i] = cond
	} else {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("mark pod %s/%s for eviction: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "TaintManagerEviction", "Evicting", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(p.UID))})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
