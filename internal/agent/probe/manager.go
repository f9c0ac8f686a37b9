package probe

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// Exec runs a command in a container (the agent wraps CRI ExecSync); exitCode 0 is
// success. A command that outlives timeout returns an error wrapping
// k8s.io/cri-client's ErrCommandTimedOut or context.DeadlineExceeded.
type Exec interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error)
}

// Container is a running container the probes watch.
type Container struct {
	ID        string
	StartedAt time.Time
}

// Manager keeps the probe workers of all pods on the node and their results.
type Manager struct {
	exec     Exec
	recorder record.EventRecorder
	onChange func(podUID types.UID)
	// unit is what one "second" of a probe's timings lasts; tests shrink it.
	unit time.Duration
	// workers counts running worker goroutines, so tests can see them stop.
	workers atomic.Int64

	mu   sync.Mutex
	pods map[types.UID]*podProbes
	// unknown holds pods Started was asked about before their first Update: Update
	// calls onChange for them, since the answer (false) may have been wrong.
	unknown map[types.UID]bool
}

// podProbes is what the Manager knows of one pod.
type podProbes struct {
	pod     *corev1.Pod
	podIP   string
	workers map[workerKey]*worker
}

type workerKey struct {
	container string
	kind      kind
}

// NewManager returns a Manager that runs exec probes through exec, records probe events
// with recorder and calls onChange (never under a lock) when a pod's probe result changes.
func NewManager(exec Exec, recorder record.EventRecorder, onChange func(podUID types.UID)) *Manager {
	return &Manager{
		exec:     exec,
		recorder: recorder,
		onChange: onChange,
		unit:     time.Second,
		pods:     map[types.UID]*podProbes{},
		unknown:  map[types.UID]bool{},
	}
}

// Update is called on every pod sync with the pod's running containers (init sidecars
// included, by name). It starts, keeps or stops workers to match: a container that no
// longer runs loses its workers and results, a new container ID gets new ones.
func (m *Manager) Update(pod *corev1.Pod, podIP string, running map[string]Container) {
	m.mu.Lock()
	p := m.pods[pod.UID]
	if p == nil {
		p = &podProbes{workers: map[workerKey]*worker{}}
		m.pods[pod.UID] = p
	}
	p.pod, p.podIP = pod, podIP
	wanted := map[workerKey]bool{}
	for _, c := range podContainers(pod) {
		rc, ok := running[c.Name]
		if !ok {
			continue
		}
		for _, k := range kinds {
			spec := k.spec(c)
			if spec == nil {
				continue
			}
			key := workerKey{c.Name, k}
			wanted[key] = true
			if w := p.workers[key]; w != nil {
				if w.containerID == rc.ID {
					continue
				}
				w.stop()
			}
			w := newWorker(m, pod, c, k, spec, rc)
			p.workers[key] = w
			m.workers.Add(1)
			go w.run()
		}
	}
	for key, w := range p.workers {
		if !wanted[key] {
			w.stop()
			delete(p.workers, key)
		}
	}
	asked := m.unknown[pod.UID]
	delete(m.unknown, pod.UID)
	m.mu.Unlock()
	if asked {
		m.onChange(pod.UID)
	}
}

// Remove stops the workers of pod podUID and forgets their results: the pod is gone or
// terminating.
func (m *Manager) Remove(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pods[podUID]; p != nil {
		for _, w := range p.workers {
			w.stop()
		}
	}
	delete(m.pods, podUID)
	delete(m.unknown, podUID)
}

// Started says whether the startup probe of a running container passed (true if it has
// none).
func (m *Manager) Started(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[podUID]
	if p == nil {
		m.unknown[podUID] = true
		return false
	}
	return p.started(container)
}

// Ready says whether a container is ready: started, and its readiness probe succeeded
// (true if it has none).
func (m *Manager) Ready(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[podUID]
	if p == nil || !p.started(container) {
		return false
	}
	if w := p.workers[workerKey{container, readiness}]; w != nil {
		return w.result == success
	}
	c := p.container(container)
	return c != nil && c.ReadinessProbe == nil
}

// Liveness says whether a container failed its liveness probe or its startup probe, and
// then how ("failed liveness probe"), for the agent to restart it.
func (m *Manager) Liveness(podUID types.UID, container string) (failed bool, message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[podUID]
	if p == nil {
		return false, ""
	}
	if w := p.workers[workerKey{container, startup}]; w != nil && w.result == failure {
		return true, "failed startup probe"
	}
	if w := p.workers[workerKey{container, liveness}]; w != nil && w.result == failure {
		return true, "failed liveness probe"
	}
	return false, ""
}

// started says whether container passed its startup probe (true if it has none). The
// caller holds m.mu.
func (p *podProbes) started(container string) bool {
	if w := p.workers[workerKey{container, startup}]; w != nil {
		return w.result == success
	}
	c := p.container(container)
	return c != nil && c.StartupProbe == nil
}

func (p *podProbes) container(name string) *corev1.Container {
	for _, c := range podContainers(p.pod) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// podContainers are the containers of pod that may have probes: init containers (only
// sidecars may, by validation) and regular ones.
func podContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// set stores result as w's, if w is still the pod's worker, and tells whether it changed.
// When a startup probe succeeds the pod's other workers are woken to probe at once.
func (m *Manager) set(w *worker, r result) (changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[w.pod.UID]
	if p == nil || p.workers[workerKey{w.container.Name, w.kind}] != w || w.result == r {
		return false
	}
	w.result = r
	if w.kind == startup && r == success {
		for key, other := range p.workers {
			if key.container == w.container.Name && other != w {
				other.trigger()
			}
		}
	}
	return true
}

// gated says whether w must wait for its container's startup probe, and gives the pod's
// IP to probe.
func (m *Manager) gated(w *worker) (wait bool, podIP string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[w.pod.UID]
	if p == nil {
		return true, ""
	}
	return w.kind != startup && !p.started(w.container.Name), p.podIP
}
