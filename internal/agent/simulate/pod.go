package simulate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// A simulated pod's life, decided by nextStep from the pod and the clock alone:
//
//	seen bound to a node ──PodStartDelay──▶ Running, Ready ──JobDuration──▶ Succeeded (Job pods only)
//	deletionTimestamp set, in any phase ──▶ deleted with grace period 0
//
// Pods owned by a Job complete; all others run until deleted. A Job pod annotated with
// ExitCodeAnnotation fails instead, its containers exiting with that code.

// action is what the agent does next for a pod.
type action int

const (
	// actNone: nothing, until the pod changes.
	actNone action = iota
	// actWait: nothing yet; look again after step.after.
	actWait
	// actStart: write the status of a started pod (startedPod).
	actStart
	// actComplete: write the status of a pod whose containers exited (completedPod).
	actComplete
	// actReadiness: write the Ready condition of a running pod that its readiness gates
	// changed (withReadiness).
	actReadiness
	// actDelete: delete the pod with grace period 0, its containers being "stopped".
	actDelete
)

func (a action) String() string {
	return [...]string{"none", "wait", "start", "complete", "delete", "readiness"}[a]
}

type step struct {
	action action
	after  time.Duration
}

// podTimes is what the agent remembers of a pod: when it first saw it bound to one of its
// nodes, and when it started it (zero if not by this process).
type podTimes struct {
	seen, started time.Time
}

// nextStep decides what to do with pod at now.
func nextStep(pod *corev1.Pod, t podTimes, now time.Time, o *Options) step {
	switch {
	case pod.DeletionTimestamp != nil:
		return step{action: actDelete}
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return step{}
	case pod.Status.Phase != corev1.PodRunning:
		if d := t.seen.Add(o.PodStartDelay).Sub(now); d > 0 {
			return step{action: actWait, after: d}
		}
		return step{action: actStart}
	case readyStatus(pod) != wantReady(pod):
		return step{action: actReadiness}
	case ownedByJob(pod):
		started := t.started
		if started.IsZero() && pod.Status.StartTime != nil {
			started = pod.Status.StartTime.Time
		}
		if d := started.Add(o.JobDuration).Sub(now); d > 0 {
			return step{action: actWait, after: d}
		}
		return step{action: actComplete}
	}
	return step{}
}

// ownedByJob reports whether a batch Job owns pod.
func ownedByJob(pod *corev1.Pod) bool {
	for _, ref := range pod.OwnerReferences {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil && ref.Kind == "Job" && gv.Group == batchv1.GroupName {
			return true
		}
	}
	return false
}

// startedPod is pod, Running and Ready at now on the node at hostIP with address podIP: every
// container running and ready, every init container completed (sidecars running).
func startedPod(pod *corev1.Pod, now metav1.Time, hostIP, podIP string) *corev1.Pod {
	p := pod.DeepCopy()
	s := &p.Status
	s.Phase = corev1.PodRunning
	s.Reason, s.Message = "", ""
	s.HostIP, s.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	s.PodIP, s.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	if s.StartTime == nil {
		s.StartTime = &now
	}
	s.ObservedGeneration = p.Generation

	s.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		cs := containerStatus(p, c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			cs.Ready, cs.Started = true, ptr.To(true)
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID}
			cs.Ready, cs.Started = true, ptr.To(false)
		}
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
	}
	s.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		cs := containerStatus(p, c)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		cs.Ready, cs.Started = true, ptr.To(true)
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}

	setPodCondition(p, corev1.PodScheduled, corev1.ConditionTrue, "", now, true)
	setPodCondition(p, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", now, false)
	setPodCondition(p, corev1.PodInitialized, corev1.ConditionTrue, "", now, false)
	setPodCondition(p, corev1.ContainersReady, corev1.ConditionTrue, "", now, false)
	return withReadiness(p, now)
}

// withReadiness sets pod's Ready condition as a kubelet does for a pod whose containers are
// ready: True when every readiness gate's condition is True, else False, saying which gate
// holds it back. pod is changed and returned.
func withReadiness(pod *corev1.Pod, now metav1.Time) *corev1.Pod {
	reason, message := gateBlocking(pod)
	status := corev1.ConditionTrue
	if reason != "" {
		status = corev1.ConditionFalse
	}
	setPodCondition(pod, corev1.PodReady, status, reason, now, false)
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			pod.Status.Conditions[i].Message = message
		}
	}
	return pod
}

// gateBlocking returns the kubelet's reason and message for the first readiness gate of pod
// whose condition is not True, or "" if none is.
func gateBlocking(pod *corev1.Pod) (reason, message string) {
	for _, g := range pod.Spec.ReadinessGates {
		i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == g.ConditionType })
		switch {
		case i < 0:
			return "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
		case pod.Status.Conditions[i].Status != corev1.ConditionTrue:
			return "ReadinessGatesNotReady", fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, pod.Status.Conditions[i].Status)
		}
	}
	return "", ""
}

// readyStatus is the status of pod's Ready condition.
func readyStatus(pod *corev1.Pod) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// wantReady is the Ready status a running pod's readiness gates call for.
func wantReady(pod *corev1.Pod) corev1.ConditionStatus {
	if reason, _ := gateBlocking(pod); reason != "" {
		return corev1.ConditionFalse
	}
	return corev1.ConditionTrue
}

// ExitCodeAnnotation on a Job pod makes it fail: after JobDuration its containers exit with
// this code (a non-zero integer) instead of 0, and the pod's phase becomes Failed. It lets
// tests and demos exercise backoffLimit and podFailurePolicy.
const ExitCodeAnnotation = "gantry.dev/simulate-exit-code"

// exitCode is the code pod's containers exit with: ExitCodeAnnotation's, or 0 if it is
// absent or not a non-zero integer.
func exitCode(pod *corev1.Pod) int32 {
	code, err := strconv.ParseInt(pod.Annotations[ExitCodeAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return int32(code)
}

// completedPod is pod, finished at now: Succeeded with every container (sidecars too)
// terminated with exit code 0, or, if pod has a non-zero exitCode, Failed with its regular
// containers terminated with that code (reason Error) and the others with 0.
func completedPod(pod *corev1.Pod, now metav1.Time) *corev1.Pod {
	p := pod.DeepCopy()
	s := &p.Status
	s.Phase = corev1.PodSucceeded
	s.ObservedGeneration = p.Generation
	code, readyReason := exitCode(pod), "PodCompleted"
	if code != 0 {
		s.Phase, readyReason = corev1.PodFailed, "PodFailed"
	}
	terminate := func(statuses []corev1.ContainerStatus, containers []corev1.Container, code int32) []corev1.ContainerStatus {
		out := make([]corev1.ContainerStatus, 0, len(containers))
		for _, c := range containers {
			cs := containerStatus(p, c)
			started := now
			for _, old := range statuses {
				if old.Name != c.Name {
					continue
				}
				switch {
				case old.State.Terminated != nil:
					started = old.State.Terminated.StartedAt
				case old.State.Running != nil:
					started = old.State.Running.StartedAt
				}
			}
			reason := "Completed"
			if code != 0 {
				reason = "Error"
			}
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}
			cs.Ready, cs.Started = false, ptr.To(false)
			out = append(out, cs)
		}
		return out
	}
	s.InitContainerStatuses = terminate(s.InitContainerStatuses, p.Spec.InitContainers, 0)
	s.ContainerStatuses = terminate(s.ContainerStatuses, p.Spec.Containers, code)

	setPodCondition(p, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", now, false)
	setPodCondition(p, corev1.PodInitialized, corev1.ConditionTrue, "PodCompleted", now, false)
	setPodCondition(p, corev1.ContainersReady, corev1.ConditionFalse, readyReason, now, false)
	setPodCondition(p, corev1.PodReady, corev1.ConditionFalse, readyReason, now, false)
	return p
}

// containerStatus is the identity part of container c's status in pod: name, image and
// made-up (stable) image and container IDs.
func containerStatus(pod *corev1.Pod, c corev1.Container) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:        c.Name,
		Image:       c.Image,
		ImageID:     "sha256:" + hash(c.Image),
		ContainerID: "simulated://" + hash(string(pod.UID)+"/"+c.Name),
	}
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// setPodCondition sets condition t of pod to status at now. lastTransitionTime stays when
// the status does not change; onlyIfMissing leaves an existing condition alone.
func setPodCondition(pod *corev1.Pod, t corev1.PodConditionType, status corev1.ConditionStatus, reason string, now metav1.Time, onlyIfMissing bool) {
	want := corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now, ObservedGeneration: pod.Generation}
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if onlyIfMissing {
			return
		}
		if c.Status == status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		*c = want
		return
	}
	pod.Status.Conditions = append(pod.Status.Conditions, want)
}
