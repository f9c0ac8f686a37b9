package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/kubelet/events"
	statusutil "k8s.io/kubernetes/pkg/util/pod"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/probe"
	"github.com/gantryhq/gantry/internal/agent/volume"
)

// retryAfter is how soon a sync that could not finish a step (a failed mount, sandbox or
// create) tries again.
const retryAfter = 2 * time.Second

// sync drives pod w one step towards its spec. It returns when to sync again, or finished
// once the pod is gone from both the API and the runtime.
func (a *Agent) sync(ctx context.Context, w *worker) (next time.Duration, finished bool) {
	pod, err := a.pods.Pods(w.namespace).Get(w.name)
	if err != nil || pod.UID != w.uid {
		pod = nil
	}
	rtp := a.runtimeOf(w.uid)
	switch {
	case pod == nil:
		return a.cleanup(ctx, w, rtp)
	case pod.DeletionTimestamp != nil || podutil.IsPodPhaseTerminal(pod.Status.Phase):
		return a.terminate(ctx, w, pod, rtp), false
	}
	next, err = a.run(ctx, w, pod, rtp)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("sync pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	return next, false
}

// run makes a live pod's containers match its spec, then reports its status.
func (a *Agent) run(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime) (time.Duration, error) {
	if err := a.volumes.Setup(ctx, pod); err != nil {
		messages := []string{err.Error()}
		if fm := (*volume.FailedMount)(nil); errors.As(err, &fm) {
			messages = fm.Messages
		}
		for _, m := range messages {
			a.recorder.Event(pod, corev1.EventTypeWarning, events.FailedMountVolume, m)
		}
		return retryAfter, a.writeStatus(ctx, w, pod, rtp, false)
	}
	sandboxID, sandboxConfig, err := a.ensureSandbox(ctx, w, pod, rtp)
	if err != nil {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return retryAfter, a.writeStatus(ctx, w, a.podOrLatest(pod), a.runtimeOf(w.uid), false)
	}
	rtp = a.runtimeOf(w.uid)
	a.refreshStatuses(ctx, w, rtp)
	next, changed := a.runContainers(ctx, w, pod, rtp, sandboxID, sandboxConfig)
	if changed {
		a.refresh(ctx)
		rtp = a.runtimeOf(w.uid)
		a.refreshStatuses(ctx, w, rtp)
	}
	a.probes.Update(pod, firstIP(w.sandboxIPs), a.runningContainers(w, rtp))
	a.collectGarbage(ctx, pod, rtp)
	if message, exceeded, err := a.volumes.ExceedsSizeLimit(pod); err == nil && exceeded {
		return resyncPeriod, a.evict(ctx, w, pod, rtp, message)
	}
	return next, a.writeStatus(ctx, w, pod, rtp, false)
}

// evict stops a pod that broke a node-level limit and fails it, as the kubelet's eviction
// manager does; its controller replaces it.
func (a *Agent) evict(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime, message string) error {
	a.recorder.Event(pod, corev1.EventTypeWarning, "Evicted", message)
	a.stopAll(ctx, pod, rtp, a.gracePeriod(pod))
	a.probes.Remove(pod.UID)
	a.refresh(ctx)
	rtp = a.runtimeOf(w.uid)
	a.refreshStatuses(ctx, w, rtp)
	evicted := pod.DeepCopy()
	evicted.Status.Phase, evicted.Status.Reason, evicted.Status.Message = corev1.PodFailed, "Evicted", message
	evicted.Status.Conditions = statusutil.ReplaceOrAppendPodCondition(evicted.Status.Conditions, &corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "TerminationByKubelet",
		Message: message, LastTransitionTime: metav1.NewTime(a.clock.Now()),
	})
	return a.patchStatus(ctx, pod, a.podStatus(w, evicted, rtp, true))
}

// podOrLatest is the informer's newest copy of pod (a sync can take a while).
func (a *Agent) podOrLatest(pod *corev1.Pod) *corev1.Pod {
	if p, err := a.pods.Pods(pod.Namespace).Get(pod.Name); err == nil && p.UID == pod.UID {
		return p
	}
	return pod
}

// runContainers starts the init containers one at a time (sidecars stay running), then the
// main containers, restarting those that exited as the restart policy says. It reports when
// to come back (a back-off to wait out) and whether it changed anything in the runtime.
func (a *Agent) runContainers(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime, sandboxID string, sandboxConfig *runtimeapi.PodSandboxConfig) (next time.Duration, changed bool) {
	step := func(c *corev1.Container, policy corev1.RestartPolicy) (running bool) {
		d, started, running := a.keepRunning(ctx, w, pod, c, rtp, sandboxID, sandboxConfig, policy)
		next = sooner(next, d)
		changed = changed || started
		return running
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			if !step(c, corev1.RestartPolicyAlways) || !a.probes.Started(pod.UID, c.Name) {
				return next, changed
			}
			continue
		}
		if st := a.latestStatus(w, rtp, c.Name); st != nil && st.State == runtimeapi.ContainerState_CONTAINER_EXITED && st.ExitCode == 0 {
			continue
		}
		policy := corev1.RestartPolicyOnFailure
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			policy = corev1.RestartPolicyNever
		}
		step(c, policy)
		return next, changed
	}
	for i := range pod.Spec.Containers {
		step(&pod.Spec.Containers[i], pod.Spec.RestartPolicy)
	}
	return next, changed
}

// keepRunning starts container c if it should run and does not: never started, exited and
// due a restart under policy, or killed for failing its liveness probe. It returns the
// back-off left to wait, whether it started a container, and whether c runs now.
func (a *Agent) keepRunning(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, rtp *podRuntime, sandboxID string, sandboxConfig *runtimeapi.PodSandboxConfig, policy corev1.RestartPolicy) (wait time.Duration, started, running bool) {
	attempts := rtp.attempts(c.Name)
	var attempt uint32
	if len(attempts) > 0 {
		latest := w.statuses[attempts[0].Id]
		attempt = attempts[0].Metadata.GetAttempt() + 1
		switch {
		case latest == nil:
			return retryAfter, false, false
		case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
			failed, message := a.probes.Liveness(pod.UID, c.Name)
			if !failed {
				return 0, false, true
			}
			w.killed[c.Name] = true
			a.killContainer(ctx, pod, c, latest.Id, a.probeGracePeriod(pod, c), fmt.Sprintf("Container %s %s, will be restarted", c.Name, message))
			a.refresh(ctx)
			return retryAfter / 2, true, false
		case latest.State == runtimeapi.ContainerState_CONTAINER_CREATED:
			// Created but never started: the agent stopped in between.
			if err := a.rt.StartContainer(ctx, latest.Id); err != nil {
				w.waiting[c.Name] = waitingReason{"RunContainerError", err.Error()}
				return retryAfter, false, false
			}
			return 0, true, true
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED:
			if !w.killed[c.Name] && !shouldRestart(policy, latest.ExitCode) {
				return 0, false, false
			}
			key := backoffKey(pod, c)
			finished := time.Unix(0, latest.FinishedAt)
			if a.restarts.IsInBackOffSince(key, finished) {
				delay := a.restarts.Get(key)
				w.waiting[c.Name] = waitingReason{"CrashLoopBackOff",
					fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, formatPod(pod))}
				a.recorder.Eventf(containerRef(pod, c), corev1.EventTypeWarning, events.BackOffStartContainer,
					"Back-off restarting failed container %s in pod %s", c.Name, formatPod(pod))
				return delay - a.clock.Since(finished), false, false
			}
			a.restarts.Next(key, a.clock.Now())
		}
	}
	ok, wait := a.startContainer(ctx, w, pod, c, attempt, sandboxID, sandboxConfig)
	return wait, ok, ok
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// startContainer pulls c's image, creates and starts the container, and runs its postStart
// hook. On failure it records why c is waiting and says when to try again.
func (a *Agent) startContainer(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, attempt uint32, sandboxID string, sandboxConfig *runtimeapi.PodSandboxConfig) (bool, time.Duration) {
	ref := containerRef(pod, c)
	fail := func(reason string, err error) (bool, time.Duration) {
		w.waiting[c.Name] = waitingReason{reason, err.Error()}
		a.recorder.Eventf(ref, corev1.EventTypeWarning, events.FailedToCreateContainer, "Error: %v", err)
		return false, retryAfter
	}
	imageRef, wait, err := a.ensureImage(ctx, w, pod, c, sandboxConfig)
	if err != nil {
		return false, wait
	}
	config, err := a.containerConfig(ctx, pod, c, attempt, w.sandboxIPs, imageRef)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	id, err := a.rt.CreateContainer(ctx, sandboxID, config, sandboxConfig)
	if err != nil {
		return fail("CreateContainerError", err)
	}
	a.recorder.Event(ref, corev1.EventTypeNormal, events.CreatedContainer, "Container created")
	if err := a.rt.StartContainer(ctx, id); err != nil {
		return fail("RunContainerError", err)
	}
	a.recorder.Event(ref, corev1.EventTypeNormal, events.StartedContainer, "Container started")
	delete(w.waiting, c.Name)
	delete(w.killed, c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := a.runHook(ctx, pod, c, id, c.Lifecycle.PostStart, 30*time.Second); err != nil {
			a.recorder.Eventf(ref, corev1.EventTypeWarning, events.FailedPostStartHook, "PostStartHook failed: %s", msg)
			a.killContainer(ctx, pod, c, id, a.gracePeriod(pod), "FailedPostStartHook")
		}
	}
	return true, 0
}

// ensureSandbox returns the pod's ready sandbox, making one when there is none. A sandbox
// that stopped (its network is gone) is replaced, with every container in it.
func (a *Agent) ensureSandbox(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime) (string, *runtimeapi.PodSandboxConfig, error) {
	s := rtp.latestSandbox()
	if s != nil && s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		if w.sandboxID != s.Id {
			if err := a.readSandboxIPs(ctx, w, s.Id); err != nil {
				return "", nil, err
			}
		}
		return s.Id, a.sandboxConfig(pod, s.Metadata.GetAttempt()), nil
	}
	var attempt uint32
	if s != nil {
		attempt = s.Metadata.GetAttempt() + 1
		a.recorder.Event(pod, corev1.EventTypeNormal, events.SandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		a.stopAll(ctx, pod, rtp, 0)
	}
	config := a.sandboxConfig(pod, attempt)
	if err := os.MkdirAll(config.LogDirectory, 0o755); err != nil {
		return "", nil, fmt.Errorf("create log directory: %w", err)
	}
	id, err := a.rt.RunPodSandbox(ctx, config, "")
	if err != nil {
		return "", nil, err
	}
	if err := a.readSandboxIPs(ctx, w, id); err != nil {
		return "", nil, err
	}
	if err := a.writeEtcHosts(pod, w.sandboxIPs...); err != nil {
		return "", nil, err
	}
	a.refresh(ctx)
	return id, config, nil
}

func (a *Agent) readSandboxIPs(ctx context.Context, w *worker, id string) error {
	st, err := a.rt.PodSandboxStatus(ctx, id, false)
	if err != nil {
		return fmt.Errorf("status of sandbox %s: %w", id, err)
	}
	w.sandboxID, w.sandboxIPs = id, nil
	if n := st.GetStatus().GetNetwork(); n != nil {
		if n.Ip != "" {
			w.sandboxIPs = append(w.sandboxIPs, n.Ip)
		}
		for _, ip := range n.AdditionalIps {
			w.sandboxIPs = append(w.sandboxIPs, ip.Ip)
		}
	}
	return nil
}

// terminate stops a pod that is being deleted or has finished: its containers within the
// grace period (preStop hooks first), then its sandbox. A deleted pod's object is removed for
// good once nothing of it runs, as the kubelet does.
func (a *Agent) terminate(ctx context.Context, w *worker, pod *corev1.Pod, rtp *podRuntime) time.Duration {
	a.refreshStatuses(ctx, w, rtp)
	grace := a.gracePeriod(pod)
	a.stopAll(ctx, pod, rtp, grace)
	a.probes.Remove(pod.UID)
	a.refresh(ctx)
	rtp = a.runtimeOf(w.uid)
	a.refreshStatuses(ctx, w, rtp)
	pod = a.podOrLatest(pod)
	if err := a.writeStatus(ctx, w, pod, rtp, true); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		a.log.Warn("write status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return retryAfter
	}
	if pod.DeletionTimestamp == nil {
		return resyncPeriod
	}
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.log.Warn("delete pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return retryAfter
	}
	return resyncPeriod
}

// stopAll stops every running container of the pod, the main containers first and then the
// sidecars, and then its sandboxes.
func (a *Agent) stopAll(ctx context.Context, pod *corev1.Pod, rtp *podRuntime, grace int64) {
	if rtp == nil {
		return
	}
	kill := func(sidecars bool) {
		var wg sync.WaitGroup
		for _, ctr := range rtp.containers {
			if ctr.State != runtimeapi.ContainerState_CONTAINER_RUNNING && ctr.State != runtimeapi.ContainerState_CONTAINER_CREATED {
				continue
			}
			c := specOf(pod, ctr.Metadata.GetName())
			if (c != nil && isSidecar(c)) != sidecars {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.killContainer(ctx, pod, c, ctr.Id, grace, "")
			}()
		}
		wg.Wait()
	}
	kill(false)
	kill(true)
	for _, s := range rtp.sandboxes {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if err := a.rt.StopPodSandbox(ctx, s.Id); err != nil {
				a.log.Warn("stop sandbox", "sandbox", s.Id, "err", err)
			}
		}
	}
}

// killContainer runs c's preStop hook and stops the container, giving it what is left of
// grace seconds between SIGTERM and SIGKILL. c is nil for a container no longer in the spec.
func (a *Agent) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64, message string) {
	start := a.clock.Now()
	if pod != nil && c != nil {
		if message == "" {
			message = "Stopping container " + c.Name
		}
		ref := containerRef(pod, c)
		a.recorder.Event(ref, corev1.EventTypeNormal, events.KillingContainer, message)
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
			if msg, err := a.runHook(ctx, pod, c, id, c.Lifecycle.PreStop, time.Duration(grace)*time.Second); err != nil {
				a.recorder.Eventf(ref, corev1.EventTypeWarning, events.FailedPreStopHook, "PreStopHook failed: %s", msg)
			}
		}
	}
	left := grace - int64(a.clock.Since(start).Seconds())
	if grace > 0 && left < minGracePeriod {
		left = minGracePeriod
	}
	if err := a.rt.StopContainer(ctx, id, left); err != nil && ctx.Err() == nil {
		a.log.Warn("stop container", "container", id, "err", err)
	}
}

// minGracePeriod is what a container gets after its preStop hook used up the grace period,
// as with the kubelet.
const minGracePeriod = 2

// cleanup removes what is left of a pod that is gone from the API: containers, sandboxes,
// volumes and files.
func (a *Agent) cleanup(ctx context.Context, w *worker, rtp *podRuntime) (time.Duration, bool) {
	a.probes.Remove(w.uid)
	if rtp != nil {
		a.stopAll(ctx, nil, rtp, minGracePeriod)
		for _, c := range rtp.containers {
			if err := a.rt.RemoveContainer(ctx, c.Id); err != nil {
				a.log.Warn("remove container", "container", c.Id, "err", err)
			}
		}
		for _, s := range rtp.sandboxes {
			if err := a.rt.RemovePodSandbox(ctx, s.Id); err != nil {
				a.log.Warn("remove sandbox", "sandbox", s.Id, "err", err)
				return retryAfter, false
			}
		}
		a.refresh(ctx)
		if a.runtimeOf(w.uid) != nil {
			return retryAfter, false
		}
	}
	if err := a.volumes.Teardown(w.uid); err != nil {
		a.log.Warn("tear down volumes", "pod", w.namespace+"/"+w.name, "err", err)
		return retryAfter, false
	}
	os.RemoveAll(a.podDir(w.uid))
	os.RemoveAll(podLogDir(a.cfg.Root, w.namespace, w.name, w.uid))
	a.restarts.GC()
	return 0, true
}

// collectGarbage removes exited containers beyond the newest two attempts of each (the
// newest for status and restarts, the one before for `kubectl logs --previous`), and
// sandboxes that stopped and were replaced.
func (a *Agent) collectGarbage(ctx context.Context, pod *corev1.Pod, rtp *podRuntime) {
	if rtp == nil {
		return
	}
	seen := map[string]int{}
	for _, c := range rtp.containers {
		name := c.Metadata.GetName()
		seen[name]++
		if seen[name] > 2 && c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			if err := a.rt.RemoveContainer(ctx, c.Id); err != nil {
				a.log.Warn("remove container", "container", c.Id, "err", err)
			}
		}
	}
	for _, s := range rtp.sandboxes[1:] {
		if s.State != runtimeapi.PodSandboxState_SANDBOX_READY && !sandboxHasContainers(rtp, s.Id) {
			if err := a.rt.RemovePodSandbox(ctx, s.Id); err != nil {
				a.log.Warn("remove sandbox", "sandbox", s.Id, "err", err)
			}
		}
	}
}

func sandboxHasContainers(rtp *podRuntime, id string) bool {
	for _, c := range rtp.containers {
		if c.PodSandboxId == id {
			return true
		}
	}
	return false
}

// refreshStatuses reads the runtime's status of each container that changed since it was
// last read; an exited container's status never changes again.
func (a *Agent) refreshStatuses(ctx context.Context, w *worker, rtp *podRuntime) {
	present := map[string]bool{}
	if rtp != nil {
		for _, c := range rtp.containers {
			present[c.Id] = true
			if old := w.statuses[c.Id]; old != nil && old.State == c.State {
				continue
			}
			st, err := a.rt.ContainerStatus(ctx, c.Id, false)
			if err != nil {
				a.log.Warn("container status", "container", c.Id, "err", err)
				continue
			}
			w.statuses[c.Id] = st.GetStatus()
		}
	}
	for id := range w.statuses {
		if !present[id] {
			delete(w.statuses, id)
		}
	}
}

// latestStatus is the runtime status of the newest attempt of container name, or nil.
func (a *Agent) latestStatus(w *worker, rtp *podRuntime, name string) *runtimeapi.ContainerStatus {
	if attempts := rtp.attempts(name); len(attempts) > 0 {
		return w.statuses[attempts[0].Id]
	}
	return nil
}

// runningContainers are the pod's running containers, for the probes.
func (a *Agent) runningContainers(w *worker, rtp *podRuntime) map[string]probe.Container {
	out := map[string]probe.Container{}
	if rtp == nil {
		return out
	}
	for _, c := range rtp.containers {
		name := c.Metadata.GetName()
		if _, ok := out[name]; ok || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		st := w.statuses[c.Id]
		if st == nil {
			continue
		}
		out[name] = probe.Container{ID: c.Id, StartedAt: time.Unix(0, st.StartedAt)}
	}
	return out
}

func sooner(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func firstIP(ips []string) string {
	if len(ips) == 0 {
		return ""
	}
	return ips[0]
}
