package replicaset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// active reports whether pod counts towards a ReplicaSet: not finished, not being deleted.
func active(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed &&
		pod.DeletionTimestamp == nil
}

// readyCondition returns pod's Ready condition, or nil.
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

// available reports whether pod has been ready for at least minReadySeconds at now.
func available(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !ready(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := readyCondition(pod)
	min := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(min).After(now)
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// deletionOrder sorts pods so that the ones to delete first come first (upstream's
// ActivePodsWithRanks, without the co-location rank): unscheduled before scheduled, pending
// before unknown before running, not ready before ready, ready for less time before more,
// more restarts before fewer, newer before older.
func deletionOrder(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
			return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
		}
		if ready(a) != ready(b) {
			return !ready(a)
		}
		if ready(a) {
			ta, tb := readyCondition(a).LastTransitionTime, readyCondition(b).LastTransitionTime
			if !ta.Equal(&tb) {
				return tb.Before(&ta)
			}
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		ca, cb := a.CreationTimestamp, b.CreationTimestamp
		if !ca.Equal(&cb) {
			return cb.Before(&ca)
		}
		return a.Name > b.Name
	})
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, s := range pod.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}
