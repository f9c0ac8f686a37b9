package job

import (
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// noIndex is the completion index of a pod without a valid one.
const noIndex = -1

// terminal reports whether pod's phase is Succeeded or Failed.
func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// isActive reports whether pod counts as running for its Job: not terminal, not being deleted.
func isActive(pod *corev1.Pod) bool {
	return !terminal(pod) && pod.DeletionTimestamp == nil
}

// isTerminating reports whether pod is being deleted but has not reached a terminal phase.
func isTerminating(pod *corev1.Pod) bool {
	return !terminal(pod) && pod.DeletionTimestamp != nil
}

// isReady reports whether pod's Ready condition is True.
func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// onlyReplaceFailed reports whether job's podReplacementPolicy is Failed: terminating pods are
// neither replaced nor counted as failed until they reach the Failed phase.
func onlyReplaceFailed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed
}

// isFailed reports whether pod counts as a failure of job. A pod deleted before finishing
// counts as failed too (unless podReplacementPolicy is Failed): it may never reach a phase.
func isFailed(pod *corev1.Pod, job *batchv1.Job) bool {
	if pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(job) {
		return false
	}
	return pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded
}

// hasTrackingFinalizer reports whether pod still holds the Job's tracking finalizer: it has
// not been counted in the Job's status yet.
func hasTrackingFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// completionIndex is pod's completion index from its annotation, or noIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// finishTime estimates when pod finished: the latest container exit, else when it stopped
// being Ready, else when it was deleted, else its creation.
func finishTime(pod *corev1.Pod) time.Time {
	var latest time.Time
	complete := len(pod.Status.ContainerStatuses) > 0
	for _, cs := range pod.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			complete = false
			break
		}
		if t.FinishedAt.After(latest) {
			latest = t.FinishedAt.Time
		}
	}
	if complete {
		return latest
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if pod.DeletionTimestamp != nil {
		return pod.DeletionTimestamp.Add(-time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return pod.CreationTimestamp.Time
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// removalOrder sorts pods so that those furthest from done come first: unscheduled before
// scheduled, pending before running, not ready before ready, newer before older.
func removalOrder(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
			return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
		}
		if isReady(a) != isReady(b) {
			return !isReady(a)
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	})
}
