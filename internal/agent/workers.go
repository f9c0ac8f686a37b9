package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// resyncPeriod bounds how long a pod goes without a sync, to catch what no event reports.
const resyncPeriod = 10 * time.Second

// worker syncs one pod, one sync at a time.
type worker struct {
	uid             types.UID
	namespace, name string
	wakeup          chan struct{}
	stop            context.CancelFunc
	done            chan struct{}

	// What syncs carry over, touched only by the worker's goroutine:
	// statuses caches the runtime's status of each container that has exited (it no longer
	// changes) or that runs.
	statuses map[string]*runtimeapi.ContainerStatus
	// waiting is why a container that should run does not (ErrImagePull, CrashLoopBackOff, …).
	waiting map[string]waitingReason
	// sandboxIPs are the IPs of the sandbox with id sandboxID.
	sandboxID  string
	sandboxIPs []string
	// killed marks containers the agent stopped because their liveness probe failed, so
	// that they restart whatever the restart policy says.
	killed map[string]bool
}

type waitingReason struct{ reason, message string }

// podChanged wakes the worker of a pod the informer saw change.
func (a *Agent) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.wake(pod.UID, pod.Namespace, pod.Name)
}

// poke wakes the worker of pod uid, if it has one (probe results).
func (a *Agent) poke(uid types.UID) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w != nil {
		w.signal()
	}
}

// wake wakes the worker of pod uid, starting one if there is none.
func (a *Agent) wake(uid types.UID, namespace, name string) {
	a.mu.Lock()
	w := a.workers[uid]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &worker{
			uid: uid, namespace: namespace, name: name,
			wakeup: make(chan struct{}, 1), stop: cancel, done: make(chan struct{}),
			statuses: map[string]*runtimeapi.ContainerStatus{},
			waiting:  map[string]waitingReason{},
			killed:   map[string]bool{},
		}
		a.workers[uid] = w
		go a.runWorker(ctx, w)
	}
	a.mu.Unlock()
	w.signal()
}

func (w *worker) signal() {
	select {
	case w.wakeup <- struct{}{}:
	default:
	}
}

func (a *Agent) runWorker(ctx context.Context, w *worker) {
	defer close(w.done)
	select {
	case <-ctx.Done():
		return
	case <-a.synced:
	}
	timer := time.NewTimer(resyncPeriod)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wakeup:
		case <-timer.C:
		}
		next, finished := a.sync(ctx, w)
		if finished {
			a.mu.Lock()
			delete(a.workers, w.uid)
			a.mu.Unlock()
			return
		}
		if next <= 0 || next > resyncPeriod {
			next = resyncPeriod
		}
		timer.Reset(next)
	}
}

// stopWorkers ends every worker, leaving the containers as they are.
func (a *Agent) stopWorkers() {
	a.mu.Lock()
	workers := make([]*worker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.stop()
		<-w.done
	}
}
