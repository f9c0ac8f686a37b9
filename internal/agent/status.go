package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
	statusutil "k8s.io/kubernetes/pkg/util/pod"
	"k8s.io/utils/ptr"
)

// maxTerminationMessage is how much of a termination message file is reported.
const maxTerminationMessage = 4096

// writeStatus reports the pod's status as the kubelet would, with one patch, only when it
// changed. terminal marks a pod whose containers were all stopped for good.
func (a *Agent) writeStatus(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime, terminal bool) error {
	return a.patchStatus(ctx, pod, a.podStatus(w, pod, rtp, terminal))
}

// patchStatus changes pod's status to st with one strategic-merge patch, if they differ.
func (a *Agent) patchStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	oldData, err := json.Marshal(corev1.Pod{Status: pod.Status})
	if err != nil {
		return err
	}
	// The UID in the patch is a precondition: a pod re-created under the same name is not
	// given this one's status.
	newData, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: pod.UID}, Status: st})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, corev1.Pod{})
	if err != nil {
		return fmt.Errorf("status patch of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if string(patch) == fmt.Sprintf(`{"metadata":{"uid":%q}}`, pod.UID) {
		return nil
	}
	_, err = a.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// podStatus computes the status of pod from what runs.
func (a *Agent) podStatus(w *worker, pod *corev1.Pod, rtp *podRuntime, terminal bool) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	now := metav1.NewTime(a.clock.Now())
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.HostIP = a.cfg.NodeIP.String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	ips := w.sandboxIPs
	if pod.Spec.HostNetwork {
		ips = []string{st.HostIP}
	}
	if len(ips) > 0 {
		st.PodIP = ips[0]
		st.PodIPs = nil
		for _, ip := range ips {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	st.QOSClass = qos.GetPodQOS(pod)
	st.ObservedGeneration = pod.Generation

	initDone := true
	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := a.containerStatus(w, pod, c, rtp, false)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if isSidecar(c) {
			initDone = initDone && cs.Started != nil && *cs.Started
		} else {
			initDone = initDone && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
	}
	st.ContainerStatuses = nil
	for i := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, a.containerStatus(w, pod, &pod.Spec.Containers[i], rtp, !initDone))
	}
	// A terminal phase is final, whoever set it (the agent, or an eviction).
	if !podutil.IsPodPhaseTerminal(pod.Status.Phase) {
		st.Phase = podPhase(pod, st, initDone, terminal)
	}
	a.setConditions(pod, &st, rtp, initDone, now)
	return st
}

// containerStatus is the status of container c from its newest attempts.
func (a *Agent) containerStatus(w *worker, pod *corev1.Pod, c *corev1.Container, rtp *podRuntime, initializing bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr.To(false)}
	attempts := rtp.attempts(c.Name)
	var latest *runtimeapi.ContainerStatus
	if len(attempts) > 0 {
		latest = w.statuses[attempts[0].Id]
		cs.RestartCount = int32(attempts[0].Metadata.GetAttempt())
	}
	if latest == nil {
		reason := "ContainerCreating"
		if initializing {
			reason = "PodInitializing"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		if wr, ok := w.waiting[c.Name]; ok {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: wr.reason, Message: wr.message}
		}
		return cs
	}
	cs.ContainerID = a.runtimeName() + "://" + latest.Id
	cs.ImageID = latest.ImageRef
	switch latest.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(0, latest.StartedAt))}
		cs.Started = ptr.To(a.probes.Started(pod.UID, c.Name))
		cs.Ready = *cs.Started && a.probes.Ready(pod.UID, c.Name)
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		term := a.terminated(pod, c, latest)
		if wr, ok := w.waiting[c.Name]; ok {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: wr.reason, Message: wr.message}
			cs.LastTerminationState.Terminated = term
			return cs
		}
		cs.State.Terminated = term
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if len(attempts) > 1 {
		if prev := w.statuses[attempts[1].Id]; prev != nil && prev.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			cs.LastTerminationState.Terminated = a.terminated(pod, c, prev)
		}
	}
	return cs
}

// terminated is the terminated state of an exited container, with the message the container
// left in its termination message file (or the end of its log, with
// FallbackToLogsOnError).
func (a *Agent) terminated(pod *corev1.Pod, c *corev1.Container, st *runtimeapi.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    st.ExitCode,
		Reason:      st.Reason,
		Message:     st.Message,
		StartedAt:   metav1.NewTime(time.Unix(0, st.StartedAt)),
		FinishedAt:  metav1.NewTime(time.Unix(0, st.FinishedAt)),
		ContainerID: a.runtimeName() + "://" + st.Id,
	}
	if t.Reason == "" {
		t.Reason = "Error"
		if t.ExitCode == 0 {
			t.Reason = "Completed"
		}
	}
	if t.Message == "" {
		t.Message = a.terminationMessage(pod, c, st)
	}
	return t
}

func (a *Agent) terminationMessage(pod *corev1.Pod, c *corev1.Container, st *runtimeapi.ContainerStatus) string {
	if c.TerminationMessagePath != "" {
		if data, err := os.ReadFile(a.terminationLogPath(pod, c.Name, st.GetMetadata().GetAttempt())); err == nil && len(data) > 0 {
			return string(data[:min(len(data), maxTerminationMessage)])
		}
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && st.ExitCode != 0 && st.LogPath != "" {
		return tailLog(st.LogPath, 80, 2048)
	}
	return ""
}

// podPhase follows the kubelet: Pending until the init containers are done and every
// container started once; Running while any runs or will restart; then Succeeded or Failed.
func podPhase(pod *corev1.Pod, st corev1.PodStatus, initDone, terminal bool) corev1.PodPhase {
	if !initDone {
		for _, cs := range st.InitContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		if !terminal {
			return corev1.PodPending
		}
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case terminal && running == 0:
		if waiting == 0 && stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

// setConditions sets the conditions the kubelet owns, keeping the transition time of those
// that did not change and every condition others own (PodScheduled, DisruptionTarget, …).
func (a *Agent) setConditions(pod *corev1.Pod, st *corev1.PodStatus, rtp *podRuntime, initDone bool, now metav1.Time) {
	set := func(t corev1.PodConditionType, ok bool, reason, message string) {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now, ObservedGeneration: pod.Generation}
		if _, old := podutil.GetPodConditionFromList(st.Conditions, t); old != nil && old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
			c.LastProbeTime = old.LastProbeTime
		}
		st.Conditions = statusutil.ReplaceOrAppendPodCondition(st.Conditions, &c)
	}
	sandboxReady := rtp.latestSandbox() != nil && rtp.latestSandbox().State == runtimeapi.PodSandboxState_SANDBOX_READY
	set(corev1.PodReadyToStartContainers, sandboxReady, "", "")

	completed := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	var incomplete []string
	for i, cs := range st.InitContainerStatuses {
		c := &pod.Spec.InitContainers[i]
		done := (isSidecar(c) && cs.Started != nil && *cs.Started) || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0)
		if !done {
			incomplete = append(incomplete, cs.Name)
		}
	}
	switch {
	case initDone || (completed && st.Phase == corev1.PodSucceeded):
		reason := ""
		if completed {
			reason = "PodCompleted"
		}
		set(corev1.PodInitialized, true, reason, "")
	default:
		set(corev1.PodInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")))
	}

	var unready []string
	for i, cs := range st.InitContainerStatuses {
		if isSidecar(&pod.Spec.InitContainers[i]) && !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	containersReady, reason, message := len(unready) == 0, "", ""
	switch {
	case completed:
		containersReady, reason = false, "PodCompleted"
	case !containersReady:
		reason, message = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	set(corev1.ContainersReady, containersReady, reason, message)

	ready := containersReady
	if ready {
		for _, g := range pod.Spec.ReadinessGates {
			_, c := podutil.GetPodConditionFromList(st.Conditions, g.ConditionType)
			switch {
			case c == nil:
				ready, reason, message = false, "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
			case c.Status != corev1.ConditionTrue:
				ready, reason, message = false, "ReadinessGatesNotReady", fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, c.Status)
			}
			if !ready {
				break
			}
		}
	}
	set(corev1.PodReady, ready, reason, message)
	order := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	slices.SortStableFunc(st.Conditions, func(x, y corev1.PodCondition) int {
		return rank(order, x.Type) - rank(order, y.Type)
	})
}

func rank(order []corev1.PodConditionType, t corev1.PodConditionType) int {
	if i := slices.Index(order, t); i >= 0 {
		return i
	}
	return len(order)
}
