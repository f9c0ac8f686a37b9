package statefulset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// created reports whether pod exists in the API (the server gives every pod a phase); the
// placeholders the controller builds for missing ordinals have none.
func created(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func terminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// ready reports whether pod's Ready condition is True.
func ready(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// runningAndReady is the gate OrderedReady waits on.
func runningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && ready(pod)
}

// availableIn returns how long until pod has been ready for minReadySeconds at now: zero when
// it is available, negative when it is not ready at all.
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if !ready(pod) {
		return -1
	}
	c := readyCondition(pod)
	if minReadySeconds == 0 {
		return 0
	}
	if c.LastTransitionTime.IsZero() {
		return -1 // upstream never counts such a pod available
	}
	return max(0, c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Sub(now))
}

// available reports whether pod has been ready for minReadySeconds (upstream's
// IsPodAvailable; the phase is not looked at).
func available(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return availableIn(pod, minReadySeconds, now) == 0
}

// unavailable counts against maxUnavailable: not available, or going away.
func unavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return !available(pod, minReadySeconds, now) || terminating(pod)
}
