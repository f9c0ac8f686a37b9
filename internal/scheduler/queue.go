package scheduler

import (
	"container/heap"
	"context"
	"reflect"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Upstream's queue timings.
const (
	DefaultInitialBackoff = 1 * time.Second
	DefaultMaxBackoff     = 10 * time.Second
	// DefaultMaxUnschedulable is how long a pod waits for a cluster event before it is
	// retried anyway: a safety net, not the retry mechanism.
	DefaultMaxUnschedulable = 5 * time.Minute
)

// ClusterEvent is a change in the cluster that may make pods schedulable. Plugins names the
// filters whose rejections it may cure (nil: any); Hint, if set, narrows it to the pods it
// can concern.
type ClusterEvent struct {
	Name    string
	Plugins sets.Set[string]
	Hint    func(pod *framework.PodInfo) bool
}

// Queue holds the pods waiting for a node, in three places as upstream's scheduling queue:
//   - active: ready to be tried, highest priority first, then oldest;
//   - backoff: failed recently and waiting out an exponential backoff (1 s doubling to 10 s);
//   - unschedulable: found no node, and wait for a cluster event that may change that (a node
//     added or updated, a pod deleted…); an event moves a pod only if it may cure what
//     rejected it. After DefaultMaxUnschedulable a pod is retried regardless.
//
// A popped pod is in flight until Done or Requeue. An event that arrives while a pod is in
// flight is remembered, so that the pod goes to backoff rather than waiting for an event that
// has already happened. Pods with scheduling gates are held until the gates are removed.
//
// The queue keeps time through a clock.Clock, so tests step a fake clock instead of sleeping.
type Queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	clock clock.Clock

	pods          map[types.UID]*queuedPod
	active        activeHeap
	backoff       backoffHeap
	unschedulable map[types.UID]*queuedPod
	// byPlugin files the unschedulable pods under each filter that rejected them (anyPlugin
	// for those without a verdict), so that an event visits only the pods it may help.
	byPlugin map[string]map[types.UID]*queuedPod
	cycle    int64
	// moved records, per plugin, the last cycle in which an event may have cured it; anyPlugin
	// for events that concern all.
	moved  map[string]int64
	closed bool

	initialBackoff, maxBackoff, maxUnschedulable time.Duration
}

const anyPlugin = "*"

type podState int

const (
	stateActive podState = iota
	stateBackoff
	stateUnschedulable
	stateGated
	stateInFlight
	// stateBound: bound, waiting for the informer to show it so (stale updates of the
	// pending pod that arrive meanwhile are ignored).
	stateBound
)

type queuedPod struct {
	info         *framework.PodInfo
	state        podState
	added        time.Time // first enqueued: orders equal priorities
	attempts     int
	backoffUntil time.Time
	since        time.Time // entered unschedulable
	rejectedBy   sets.Set[string]
	cycle        int64 // when last popped
	index        int   // in its heap
}

// NewQueue returns an empty queue.
func NewQueue(c clock.Clock) *Queue {
	q := &Queue{
		clock:            c,
		pods:             map[types.UID]*queuedPod{},
		unschedulable:    map[types.UID]*queuedPod{},
		byPlugin:         map[string]map[types.UID]*queuedPod{},
		moved:            map[string]int64{},
		initialBackoff:   DefaultInitialBackoff,
		maxBackoff:       DefaultMaxBackoff,
		maxUnschedulable: DefaultMaxUnschedulable,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add enqueues a pending pod, or updates it if known: a change of the pod itself (not of
// its status) makes an unschedulable pod worth another try.
func (q *Queue) Add(pi *framework.PodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.pods[pi.Pod.UID]; qp != nil {
		q.updateLocked(qp, pi)
		return
	}
	qp := &queuedPod{info: pi, added: q.clock.Now(), index: -1}
	q.pods[pi.Pod.UID] = qp
	if gated(pi.Pod) {
		qp.state = stateGated
		return
	}
	q.pushActive(qp)
}

func (q *Queue) updateLocked(qp *queuedPod, pi *framework.PodInfo) {
	old := qp.info
	qp.info = pi
	switch qp.state {
	case stateActive:
		heap.Fix(&q.active, qp.index)
	case stateGated:
		if !gated(pi.Pod) {
			q.pushActive(qp)
		}
	case stateUnschedulable:
		if podChanged(old.Pod, pi.Pod) {
			q.leaveUnschedulable(qp)
			q.requeueLocked(qp)
		}
	}
}

// Delete forgets a pod (deleted, or bound by someone else).
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[uid]
	if qp == nil {
		return
	}
	q.removeLocked(qp)
}

func (q *Queue) removeLocked(qp *queuedPod) {
	switch qp.state {
	case stateActive:
		heap.Remove(&q.active, qp.index)
	case stateBackoff:
		heap.Remove(&q.backoff, qp.index)
	case stateUnschedulable:
		q.leaveUnschedulable(qp)
	}
	delete(q.pods, qp.info.Pod.UID)
}

// Pop waits for an active pod and hands it out, in flight, with the cycle it belongs to.
// It returns false once the queue is closed (Run closes it when its context ends).
func (q *Queue) Pop(ctx context.Context) (*framework.PodInfo, int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed || ctx.Err() != nil {
			return nil, 0, false
		}
		q.cond.Wait()
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	qp.state = stateInFlight
	q.cycle++
	qp.cycle = q.cycle
	return qp.info, q.cycle, true
}

// Done records that an in-flight pod was bound. It stays known, ignored, until Delete (the
// informer shows it bound, or deleted).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.pods[uid]; qp != nil && qp.state == stateInFlight {
		qp.state = stateBound
	}
}

// Requeue returns an in-flight pod that did not get a node. rejectedBy names the filters
// that rejected it (nil for an error, which always backs off). The pod waits for an event
// that may help, unless one already came while it was in flight.
func (q *Queue) Requeue(uid types.UID, rejectedBy sets.Set[string]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[uid]
	if qp == nil || qp.state != stateInFlight {
		return
	}
	qp.attempts++
	qp.backoffUntil = q.clock.Now().Add(q.backoffFor(qp.attempts))
	qp.rejectedBy = rejectedBy
	if rejectedBy == nil || q.movedSince(qp) {
		q.pushBackoff(qp)
		return
	}
	qp.state = stateUnschedulable
	qp.since = q.clock.Now()
	q.unschedulable[uid] = qp
	if len(qp.rejectedBy) == 0 {
		q.file(anyPlugin, qp)
	}
	for p := range qp.rejectedBy {
		q.file(p, qp)
	}
}

func (q *Queue) file(plugin string, qp *queuedPod) {
	m := q.byPlugin[plugin]
	if m == nil {
		m = map[types.UID]*queuedPod{}
		q.byPlugin[plugin] = m
	}
	m[qp.info.Pod.UID] = qp
}

// leaveUnschedulable unfiles a pod from unschedulable.
func (q *Queue) leaveUnschedulable(qp *queuedPod) {
	uid := qp.info.Pod.UID
	delete(q.unschedulable, uid)
	unfile := func(p string) {
		if m := q.byPlugin[p]; m != nil {
			delete(m, uid)
			if len(m) == 0 {
				delete(q.byPlugin, p)
			}
		}
	}
	unfile(anyPlugin)
	for p := range qp.rejectedBy {
		unfile(p)
	}
}

// SetNominatedNode records on a pending pod the node its preemption freed, so that its next
// attempt tries that node first.
func (q *Queue) SetNominatedNode(uid types.UID, node string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[uid]
	if qp == nil || qp.info.Pod.Status.NominatedNodeName == node {
		return
	}
	pod := qp.info.Pod.DeepCopy()
	pod.Status.NominatedNodeName = node
	pi := *qp.info
	pi.Pod = pod
	qp.info = &pi
}

func (q *Queue) movedSince(qp *queuedPod) bool {
	if q.moved[anyPlugin] >= qp.cycle {
		return true
	}
	for p := range qp.rejectedBy {
		if q.moved[p] >= qp.cycle {
			return true
		}
	}
	return false
}

// Move moves the unschedulable pods that ev may help to active (or backoff, if they are
// still backing off).
func (q *Queue) Move(ev ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ev.Plugins == nil {
		q.moved[anyPlugin] = q.cycle
	}
	for p := range ev.Plugins {
		q.moved[p] = q.cycle
	}
	var candidates []*queuedPod
	if ev.Plugins == nil {
		for _, qp := range q.unschedulable {
			candidates = append(candidates, qp)
		}
	} else {
		seen := map[types.UID]bool{}
		for _, p := range append(ev.Plugins.UnsortedList(), anyPlugin) {
			for uid, qp := range q.byPlugin[p] {
				if !seen[uid] {
					seen[uid] = true
					candidates = append(candidates, qp)
				}
			}
		}
	}
	for _, qp := range candidates {
		if ev.Hint != nil && !ev.Hint(qp.info) {
			continue
		}
		q.leaveUnschedulable(qp)
		q.requeueLocked(qp)
	}
}

// requeueLocked puts a pod that left unschedulable where its backoff says.
func (q *Queue) requeueLocked(qp *queuedPod) {
	if q.clock.Now().Before(qp.backoffUntil) {
		q.pushBackoff(qp)
	} else {
		q.pushActive(qp)
	}
}

// Flush moves the pods whose backoff is over to active, and the pods unschedulable for too
// long back to trying. Run calls it every second.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !now.Before(q.backoff[0].backoffUntil) {
		qp := heap.Pop(&q.backoff).(*queuedPod)
		q.pushActive(qp)
	}
	for _, qp := range q.unschedulable {
		if now.Sub(qp.since) >= q.maxUnschedulable {
			q.leaveUnschedulable(qp)
			q.requeueLocked(qp)
		}
	}
}

// Close wakes every Pop; they return false.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Len counts the pods by place: active, backoff, unschedulable, in flight or gated.
func (q *Queue) Len() (active, backoff, unschedulable, other int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable), len(q.pods) - q.active.Len() - q.backoff.Len() - len(q.unschedulable)
}

func (q *Queue) pushActive(qp *queuedPod) {
	qp.state = stateActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *Queue) pushBackoff(qp *queuedPod) {
	qp.state = stateBackoff
	heap.Push(&q.backoff, qp)
}

func (q *Queue) backoffFor(attempts int) time.Duration {
	d := q.initialBackoff
	for i := 1; i < attempts && d < q.maxBackoff; i++ {
		d *= 2
	}
	return min(d, q.maxBackoff)
}

func gated(pod *v1.Pod) bool { return len(pod.Spec.SchedulingGates) > 0 }

// podChanged ignores what changes without changing where the pod may go: its status (the
// scheduler's own condition updates among it), resourceVersion and managed fields.
func podChanged(old, cur *v1.Pod) bool {
	if !reflect.DeepEqual(old.Spec, cur.Spec) {
		return true
	}
	return !reflect.DeepEqual(old.Labels, cur.Labels) || !reflect.DeepEqual(old.Annotations, cur.Annotations)
}

type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	if h[i].info.Priority != h[j].info.Priority {
		return h[i].info.Priority > h[j].info.Priority
	}
	return h[i].added.Before(h[j].added)
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *activeHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	qp.index = -1
	return qp
}

type backoffHeap []*queuedPod

func (h backoffHeap) Len() int           { return len(h) }
func (h backoffHeap) Less(i, j int) bool { return h[i].backoffUntil.Before(h[j].backoffUntil) }
func (h backoffHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *backoffHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *backoffHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	qp.index = -1
	return qp
}
