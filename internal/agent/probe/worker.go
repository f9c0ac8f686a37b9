package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// kind is a probe's kind; its String is how the kubelet names it in events.
type kind int

const (
	liveness kind = iota
	readiness
	startup
)

var kinds = []kind{startup, liveness, readiness}

func (k kind) String() string {
	switch k {
	case liveness:
		return "Liveness"
	case readiness:
		return "Readiness"
	default:
		return "Startup"
	}
}

func (k kind) spec(c *corev1.Container) *corev1.Probe {
	switch k {
	case liveness:
		return c.LivenessProbe
	case readiness:
		return c.ReadinessProbe
	default:
		return c.StartupProbe
	}
}

// result is a probe's outcome, one run or the threshold-filtered state.
type result int

const (
	unknown result = iota
	success
	failure
)

// initial is the result a worker reports before its first verdict, as the kubelet's: a
// container is alive until proven dead, not ready until proven ready, and not started.
func (k kind) initial() result {
	switch k {
	case liveness:
		return success
	case readiness:
		return failure
	default:
		return unknown
	}
}

// worker probes one container with one probe until stopped.
type worker struct {
	m           *Manager
	pod         *corev1.Pod
	container   *corev1.Container
	kind        kind
	spec        *corev1.Probe
	containerID string
	startedAt   time.Time

	ctx     context.Context
	stop    context.CancelFunc
	wake    chan struct{}
	result  result // guarded by m.mu
	last    result // the last probe's outcome, and
	lastRun int    // how many probes in a row had it
}

func newWorker(m *Manager, pod *corev1.Pod, c *corev1.Container, k kind, spec *corev1.Probe, rc Container) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		m: m, pod: pod, container: c, kind: k, spec: spec,
		containerID: rc.ID, startedAt: rc.StartedAt,
		ctx: ctx, stop: cancel, wake: make(chan struct{}, 1), result: k.initial(),
	}
}

// trigger makes w probe now rather than at its next period.
func (w *worker) trigger() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	defer w.m.workers.Add(-1)
	delay := time.Until(w.startedAt.Add(w.seconds(w.spec.InitialDelaySeconds)))
	if delay > 0 {
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	period := w.seconds(orDefault(w.spec.PeriodSeconds, 10))
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for w.probeOnce() {
		select {
		case <-w.ctx.Done():
			return
		case <-ticker.C:
		case <-w.wake:
			ticker.Reset(period)
		}
	}
}

// probeOnce runs the probe unless the startup probe gates it, and turns its outcome into a
// result once a threshold is reached. It returns false when the worker goes on hold: its
// liveness probe failed or its startup probe decided, so only a new container matters.
func (w *worker) probeOnce() bool {
	gated, podIP := w.m.gated(w)
	if gated || w.ctx.Err() != nil {
		return true
	}
	r := w.m.probe(w.ctx, w, podIP)
	if r == unknown || w.ctx.Err() != nil {
		return true
	}
	if r == w.last {
		w.lastRun++
	} else {
		w.last, w.lastRun = r, 1
	}
	if r == failure && w.lastRun < int(orDefault(w.spec.FailureThreshold, 3)) ||
		r == success && w.lastRun < int(orDefault(w.spec.SuccessThreshold, 1)) {
		return true
	}
	if w.m.set(w, r) {
		w.m.onChange(w.pod.UID)
	}
	return !(w.kind == liveness && r == failure || w.kind == startup)
}

func (w *worker) seconds(n int32) time.Duration {
	return time.Duration(n) * w.m.unit
}

// orDefault is the API server's default for a probe field left zero.
func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}
