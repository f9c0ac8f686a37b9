package probe

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	remote "k8s.io/cri-client/pkg"
)

func TestLivenessFailsOnlyAfterFailureThreshold(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{Name: "app", LivenessProbe: execProbe("live", 3, 1)})
	f.run(pod)

	for i := 1; i <= 2; i++ {
		call := exec.next(t, "live")
		if call.containerID != "app-1" {
			t.Fatalf("probe ran in container %q, want app-1", call.containerID)
		}
		call.reply <- execReply{output: "boom", code: 1}
		exec.next(t, "live").reply <- execReply{code: 0} // a success breaks the run
		if failed, _ := f.m.Liveness(pod.UID, "app"); failed {
			t.Fatalf("liveness failed after %d failure(s) below the threshold", i)
		}
	}
	for range 3 {
		exec.next(t, "live").reply <- execReply{output: "boom", code: 1}
	}
	eventually(t, "liveness fails", func() bool { failed, _ := f.m.Liveness(pod.UID, "app"); return failed })
	if _, message := f.m.Liveness(pod.UID, "app"); message != "failed liveness probe" {
		t.Errorf("liveness message %q, want %q", message, "failed liveness probe")
	}
	if f.changed(pod.UID) == 0 {
		t.Error("onChange was not called when liveness failed")
	}
	e, ok := f.rec.find("Liveness probe failed: boom")
	if !ok {
		t.Fatal("no event Liveness probe failed: boom")
	}
	if e != (event{corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: boom", "spec.containers{app}"}) {
		t.Errorf("event %+v", e)
	}
	if n := f.rec.count("Liveness probe failed"); n != 5 {
		t.Errorf("%d failure events, want one per failed probe (5)", n)
	}
	// On hold: a failed liveness probe is not run again until the container is replaced.
	eventually(t, "the worker stops", func() bool { return f.m.workers.Load() == 0 })
}

func TestReadinessNeedsSuccessThreshold(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", 1, 2)})
	f.run(pod)
	if !f.m.Started(pod.UID, "app") {
		t.Error("a container without startup probe is not started")
	}
	if f.m.Ready(pod.UID, "app") {
		t.Error("ready before the first readiness probe")
	}
	exec.next(t, "ready").reply <- execReply{}
	call := exec.next(t, "ready")
	if f.m.Ready(pod.UID, "app") {
		t.Error("ready after one success with successThreshold 2")
	}
	call.reply <- execReply{}
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
	changes := f.changed(pod.UID)
	exec.next(t, "ready").reply <- execReply{output: "not yet", code: 1}
	eventually(t, "not ready", func() bool { return !f.m.Ready(pod.UID, "app") })
	if f.changed(pod.UID) <= changes {
		t.Error("onChange was not called when readiness failed")
	}
	if _, ok := f.rec.find("Readiness probe failed: not yet"); !ok {
		t.Error("no event Readiness probe failed: not yet")
	}
}

func TestStartupProbeGatesLivenessAndReadiness(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{
		Name:           "app",
		StartupProbe:   execProbe("start", 5, 1),
		LivenessProbe:  execProbe("live", 1, 1),
		ReadinessProbe: execProbe("ready", 1, 1),
	})
	f.run(pod)
	for range 3 {
		exec.next(t, "start").reply <- execReply{code: 1}
		if exec.pending("live") || exec.pending("ready") {
			t.Fatal("liveness or readiness probed before the startup probe passed")
		}
	}
	if f.m.Started(pod.UID, "app") || f.m.Ready(pod.UID, "app") {
		t.Fatal("started or ready while the startup probe fails")
	}
	if failed, _ := f.m.Liveness(pod.UID, "app"); failed {
		t.Fatal("startup failures below its threshold failed liveness")
	}
	exec.next(t, "start").reply <- execReply{}
	eventually(t, "started", func() bool { return f.m.Started(pod.UID, "app") })
	exec.next(t, "ready").reply <- execReply{}
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
	exec.next(t, "live").reply <- execReply{code: 1}
	eventually(t, "liveness fails", func() bool { failed, _ := f.m.Liveness(pod.UID, "app"); return failed })
}

func TestStartupProbeFailureFailsLiveness(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{Name: "app", StartupProbe: execProbe("start", 2, 1)})
	f.run(pod)
	exec.next(t, "start").reply <- execReply{output: "starting", code: 1}
	exec.next(t, "start").reply <- execReply{output: "starting", code: 1}
	eventually(t, "liveness fails", func() bool { failed, _ := f.m.Liveness(pod.UID, "app"); return failed })
	if _, message := f.m.Liveness(pod.UID, "app"); message != "failed startup probe" {
		t.Errorf("liveness message %q, want %q", message, "failed startup probe")
	}
	if f.m.Started(pod.UID, "app") {
		t.Error("started after the startup probe failed")
	}
	if n := f.rec.count("Startup probe failed: starting"); n != 2 {
		t.Errorf("%d startup failure events, want 2", n)
	}
}

func TestNewContainerIDResetsResults(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{Name: "app", LivenessProbe: execProbe("live", 1, 1), ReadinessProbe: execProbe("ready", 1, 1)})
	f.run(pod)
	exec.next(t, "ready").reply <- execReply{}
	exec.next(t, "live").reply <- execReply{code: 1}
	eventually(t, "ready and liveness failed", func() bool {
		failed, _ := f.m.Liveness(pod.UID, "app")
		return failed && f.m.Ready(pod.UID, "app")
	})

	f.m.Update(pod, "127.0.0.1", map[string]Container{"app": {ID: "app-2", StartedAt: time.Now()}})
	if failed, _ := f.m.Liveness(pod.UID, "app"); failed {
		t.Error("the restarted container inherited the failed liveness result")
	}
	if f.m.Ready(pod.UID, "app") {
		t.Error("the restarted container inherited readiness")
	}
	if call := exec.next(t, "ready"); call.containerID != "app-2" {
		t.Errorf("probe ran in %q, want the new container app-2", call.containerID)
	}
}

func TestInitialDelayCountsFromContainerStart(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	probe := execProbe("ready", 1, 1)
	probe.InitialDelaySeconds = 600_000 // ten minutes in the test's milliseconds
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe})
	f.m.Update(pod, "127.0.0.1", map[string]Container{"app": {ID: "app-1", StartedAt: time.Now().Add(-time.Hour)}})
	t.Cleanup(func() { f.m.Remove(pod.UID) })
	// The container started an hour ago, so its delay is over: it probes without waiting.
	exec.next(t, "ready").reply <- execReply{}
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
}

func TestExecTimeoutFails(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	probe := execProbe("slow", 1, 1)
	probe.TimeoutSeconds = 7
	pod := newPod(corev1.Container{Name: "app", LivenessProbe: probe})
	f.run(pod)
	call := exec.next(t, "slow")
	if call.timeout != 7*time.Millisecond {
		t.Errorf("exec timeout %v, want timeoutSeconds (7 units)", call.timeout)
	}
	call.reply <- execReply{err: fmt.Errorf("%w: %q timed out after %s", remote.ErrCommandTimedOut, "slow", call.timeout)}
	eventually(t, "liveness fails", func() bool { failed, _ := f.m.Liveness(pod.UID, "app"); return failed })
	if _, ok := f.rec.find("Liveness probe failed: command timed out"); !ok {
		t.Error("no event Liveness probe failed: command timed out")
	}
}

func TestExecExpandsStaticEnv(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	probe := execProbe("check-$(TARGET)", 1, 1)
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe, Env: []corev1.EnvVar{{Name: "TARGET", Value: "db"}}})
	f.run(pod)
	exec.next(t, "check-db").reply <- execReply{}
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
}

func TestErroredProbeCountsNoFailure(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	probe := execProbe("", 1, 1)
	probe.Exec = nil
	probe.TCPSocket = &corev1.TCPSocketAction{Port: intstrName("nope")}
	pod := newPod(corev1.Container{Name: "app", LivenessProbe: probe})
	f.run(pod)
	eventually(t, "the errored event", func() bool {
		_, ok := f.rec.find(`Liveness probe errored and resulted in unknown state: port "nope" not found`)
		return ok
	})
	if failed, _ := f.m.Liveness(pod.UID, "app"); failed {
		t.Error("an errored probe failed liveness")
	}
	if e, _ := f.rec.find("Liveness probe errored"); e.eventtype != corev1.EventTypeWarning || e.reason != "Unhealthy" {
		t.Errorf("event %+v", e)
	}
}

func TestStoppedContainersLoseTheirWorkers(t *testing.T) {
	exec := newScriptedExec()
	f := newFixture(t, exec)
	pod := newPod(corev1.Container{Name: "app", LivenessProbe: execProbe("live", 3, 1), ReadinessProbe: execProbe("ready", 3, 1)})
	pod.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways), ReadinessProbe: execProbe("proxy", 3, 1)}}
	running := f.run(pod)
	if n := f.m.workers.Load(); n != 3 {
		t.Fatalf("%d workers, want 3 (two for app, one for the proxy sidecar)", n)
	}
	exec.next(t, "proxy").reply <- execReply{output: "down", code: 1}
	exec.next(t, "proxy").reply <- execReply{}
	eventually(t, "proxy ready", func() bool { return f.m.Ready(pod.UID, "proxy") })
	if e, _ := f.rec.find("Readiness probe failed: down"); e.fieldPath != "spec.initContainers{proxy}" {
		t.Errorf("sidecar event %+v, want field path spec.initContainers{proxy}", e)
	}

	delete(running, "app")
	f.m.Update(pod, "127.0.0.1", running)
	eventually(t, "app's workers stop", func() bool { return f.m.workers.Load() == 1 })
	if f.m.Ready(pod.UID, "app") {
		t.Error("a stopped container is ready")
	}
	f.m.Remove(pod.UID)
	eventually(t, "all workers stop", func() bool { return f.m.workers.Load() == 0 })
	if f.m.Ready(pod.UID, "proxy") {
		t.Error("a removed pod's container is ready")
	}
}

func TestStartedBeforeFirstUpdateCallsOnChange(t *testing.T) {
	f := newFixture(t, newScriptedExec())
	pod := newPod(corev1.Container{Name: "app"})
	if f.m.Started(pod.UID, "app") {
		t.Error("started before the manager knows the pod")
	}
	f.run(pod)
	if f.changed(pod.UID) != 1 {
		t.Errorf("onChange called %d times after the first Update, want 1 (the answer changed)", f.changed(pod.UID))
	}
	if !f.m.Started(pod.UID, "app") || !f.m.Ready(pod.UID, "app") {
		t.Error("a running container without probes is not started and ready")
	}
}

func ptrTo[T any](v T) *T { return &v }
