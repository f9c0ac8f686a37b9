package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/internal/controller"
)

// step handles one pod; stop asks an OrderedReady walk to go no further this pass.
type step func(ctx context.Context, pod *corev1.Pod) (stop bool, err error)

// walk runs fn over pods: in order, stopping at the first stop or error, when ordered;
// otherwise over all of them, each whatever the others did, joining the errors.
func walk(ctx context.Context, pods []*corev1.Pod, ordered bool, fn step) (stop bool, err error) {
	if ordered {
		for _, p := range pods {
			if stop, err := fn(ctx, p); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	_, err = controller.SlowStart(len(pods), func(i int) error {
		_, err := fn(ctx, pods[i])
		return err
	})
	return err != nil, err
}

// plan is one pass over a StatefulSet: the set as it is, its current and update templates,
// and the pods sorted into the ordinals it wants and those it does not.
type plan struct {
	set, currentSet, updateSet *appsv1.StatefulSet
	currentRevision            string
	updateRevision             string
	ordered                    bool
	now                        time.Time
	// replicas holds the pod of every wanted ordinal, in order; an ordinal with no pod has a
	// not yet created pod built for it.
	replicas []*corev1.Pod
	// condemned holds pods whose ordinal is out of range, highest ordinal first.
	condemned []*corev1.Pod
}

func newPlan(set, currentSet, updateSet *appsv1.StatefulSet, current, update string, pods []*corev1.Pod, now time.Time) *plan {
	p := &plan{set: set, currentSet: currentSet, updateSet: updateSet, currentRevision: current, updateRevision: update,
		ordered: set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement, now: now}
	start, n := startOrdinal(set), replicas(set)
	p.replicas = make([]*corev1.Pod, n)
	for _, pod := range pods {
		if inRange(set, pod) {
			p.replicas[ordinal(pod)-start] = pod
		} else {
			p.condemned = append(p.condemned, pod)
		}
	}
	for i, pod := range p.replicas {
		if pod == nil {
			p.replicas[i] = p.versionedPod(start + i)
		}
	}
	sort.SliceStable(p.condemned, func(i, j int) bool { return ordinal(p.condemned[i]) > ordinal(p.condemned[j]) })
	return p
}

// versionedPod builds the pod for ordinal i: at the current revision below the rolling
// update's partition, at the update revision otherwise.
func (p *plan) versionedPod(i int) *corev1.Pod {
	s := p.set.Spec.UpdateStrategy
	if s.Type == appsv1.RollingUpdateStatefulSetStrategyType || s.Type == "" {
		limit := int(p.set.Status.CurrentReplicas)
		if s.RollingUpdate != nil {
			limit = 0
			if s.RollingUpdate.Partition != nil {
				limit = int(*s.RollingUpdate.Partition)
			}
		}
		if i < startOrdinal(p.set)+limit {
			return newPod(p.currentSet, i, p.currentRevision)
		}
	}
	return newPod(p.updateSet, i, p.updateRevision)
}

func (p *plan) unavailable(pod *corev1.Pod) bool {
	return unavailable(pod, p.set.Spec.MinReadySeconds, p.now)
}

// manage creates, fixes and deletes pods; it returns how many pods it deleted to update them.
func (c *Controller) manage(ctx context.Context, p *plan) (int, error) {
	if p.set.DeletionTimestamp != nil {
		return 0, nil
	}
	if stop, err := walk(ctx, p.replicas, p.ordered, func(ctx context.Context, pod *corev1.Pod) (bool, error) {
		return c.processReplica(ctx, p, pod)
	}); stop || err != nil {
		return 0, err
	}
	// Condemned pods' claims get the owners whenScaled asks for before the pods go.
	if stop, err := walk(ctx, p.condemned, p.ordered, func(ctx context.Context, pod *corev1.Pod) (bool, error) {
		return false, c.applyRetention(ctx, p.updateSet, pod)
	}); stop || err != nil {
		return 0, err
	}
	// With OrderedReady every replica is available by now, and condemned pods go one at a
	// time, highest ordinal first, each only once the one before is gone. (Upstream lets an
	// unavailable condemned pod go only if it is the lowest unavailable one, which stalls when
	// two are broken; here the highest goes, broken or not.)
	if stop, err := walk(ctx, p.condemned, p.ordered, func(ctx context.Context, pod *corev1.Pod) (bool, error) {
		if terminating(pod) {
			return p.ordered, nil
		}
		return true, c.removePod(ctx, p.set, pod)
	}); stop || err != nil {
		return 0, err
	}
	if p.set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return 0, nil
	}
	return c.rollingUpdate(ctx, p)
}

// processReplica brings the pod of one wanted ordinal along: it replaces finished pods,
// creates missing ones, and keeps identity, storage and claim ownership right.
func (c *Controller) processReplica(ctx context.Context, p *plan, pod *corev1.Pod) (bool, error) {
	// A failed or succeeded pod is deleted whatever its exit code (evictions and node
	// shutdowns end pods that way too); the next pass creates it again.
	if finished(pod) {
		if !terminating(pod) {
			return true, c.removePod(ctx, p.set, pod)
		}
		return true, nil
	}
	if !created(pod) {
		stale, err := c.claimIsStale(p.set, pod)
		if err != nil || stale {
			return true, err
		}
		if err := c.createPod(ctx, p.set, pod); err != nil {
			return true, err
		}
		if p.ordered {
			return true, nil
		}
	}
	if pod.Status.Phase == corev1.PodPending {
		// Claims deleted by hand while the pod waits for them are made again.
		if err := c.createClaims(ctx, p.set, pod); err != nil {
			return true, err
		}
		if err := c.applyRetention(ctx, p.set, pod); err != nil {
			return true, err
		}
	}
	if p.ordered && (terminating(pod) || !runningAndReady(pod) || !available(pod, p.set.Spec.MinReadySeconds, p.now)) {
		return true, nil
	}
	match, err := c.claimsMatchRetention(p.updateSet, pod)
	if err != nil {
		match = true // the claim is missing or unreadable; a later pass fixes it
	}
	if !created(pod) || identityMatches(p.set, pod) && storageMatches(p.set, pod) && match {
		return false, nil
	}
	return false, c.fixPod(ctx, p.updateSet, pod)
}

// fixPod restores pod's identity labels, storage and claim ownership.
func (c *Controller) fixPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.applyRetention(ctx, set, pod); err != nil {
		return err
	}
	if identityMatches(set, pod) && storageMatches(set, pod) {
		return nil
	}
	pod = pod.DeepCopy()
	setIdentity(set, pod)
	if !storageMatches(set, pod) {
		setStorage(set, pod)
		if err := c.createClaims(ctx, set, pod); err != nil {
			return err
		}
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update identity of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// createPod creates pod's claims, then pod.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		return err
	}
	_, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	case apierrors.IsAlreadyExists(err):
		if _, lerr := c.pods.Pods(pod.Namespace).Get(pod.Name); apierrors.IsNotFound(lerr) {
			// The informer has not shown our pod yet; its add event brings the set back.
			return nil
		}
		// A pod of that name that the set does not own blocks the ordinal.
	}
	c.podEvent(set, pod, "create", err)
	if err != nil {
		return fmt.Errorf("create pod %s/%s for statefulset %s: %w", pod.Namespace, pod.Name, set.Name, err)
	}
	return c.applyRetention(ctx, set, pod)
}

// removePod deletes pod for set; one already gone is not an error.
func (c *Controller) removePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	c.podEvent(set, pod, "delete", err)
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// podEvent records on set that verb ("create", "delete") was done to pod, with upstream's
// reasons and messages.
func (c *Controller) podEvent(set *appsv1.StatefulSet, pod *corev1.Pod, verb string, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err != nil {
		c.record.Eventf(set, pod, corev1.EventTypeWarning, "Failed"+title, title, "%s Pod %s in StatefulSet %s failed error: %v", title, pod.Name, set.Name, err)
		return
	}
	c.record.Eventf(set, pod, corev1.EventTypeNormal, "Successful"+title, title, "%s Pod %s in StatefulSet %s successful", title, pod.Name, set.Name)
}
