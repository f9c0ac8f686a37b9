package scheduler

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/internal/scheduler/filter"
	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

func newTestQueue() (*Queue, *clocktesting.FakeClock) {
	c := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	return NewQueue(c), c
}

// pop returns the next active pod's name, or "" if none is active (it never blocks).
func pop(t *testing.T, q *Queue) string {
	t.Helper()
	q.mu.Lock()
	n := q.active.Len()
	q.mu.Unlock()
	if n == 0 {
		return ""
	}
	pi, _, ok := q.Pop(context.Background())
	if !ok {
		t.Fatal("Pop failed")
	}
	return pi.Pod.Name
}

func where(q *Queue, name string) podState {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qp := range q.pods {
		if qp.info.Pod.Name == name {
			return qp.state
		}
	}
	return -1
}

func TestQueueOrder(t *testing.T) {
	q, c := newTestQueue()
	q.Add(st.Pod("low").Info())
	c.Step(time.Millisecond)
	q.Add(st.Pod("high").Priority(100).Info())
	c.Step(time.Millisecond)
	q.Add(st.Pod("low2").Info())
	for _, want := range []string{"high", "low", "low2", ""} {
		if got := pop(t, q); got != want {
			t.Fatalf("popped %q, want %q", got, want)
		}
	}
}

var fitRejected = sets.New(filter.NodeResourcesFitName)

func TestQueueRetriesOnClusterEvents(t *testing.T) {
	tests := []struct {
		name       string
		rejectedBy sets.Set[string]
		event      ClusterEvent
		moves      bool
	}{
		{"node added: any rejection", fitRejected, evNodeAdd, true},
		{"pod deleted frees resources", fitRejected, evAssignedPodDelete, true},
		{"pod deleted cannot fix node affinity", sets.New(filter.NodeAffinityName), evAssignedPodDelete, false},
		{"node relabelled can fix node affinity", sets.New(filter.NodeAffinityName), ClusterEvent{Plugins: sets.New(filter.NodeAffinityName)}, true},
		{"pod added elsewhere, hint says no", sets.New(filter.InterPodAffinityName),
			assignedPodEvent("AssignedPodAdd", st.Pod("x").Namespace("other").Obj()), false},
		{"pod added in the namespace", sets.New(filter.InterPodAffinityName),
			assignedPodEvent("AssignedPodAdd", st.Pod("x").Obj()), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, c := newTestQueue()
			q.Add(st.Pod("p").Info())
			_, _, _ = q.Pop(context.Background())
			q.Requeue("p", tc.rejectedBy)
			if where(q, "p") != stateUnschedulable {
				t.Fatal("a rejected pod must wait as unschedulable")
			}
			c.Step(2 * time.Second) // backoff (1 s) is over
			q.Move(tc.event)
			got := pop(t, q) == "p"
			if got != tc.moves {
				t.Errorf("moved = %v, want %v", got, tc.moves)
			}
		})
	}
}

func TestQueueBackoff(t *testing.T) {
	q, c := newTestQueue()
	q.Add(st.Pod("p").Info())
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if pop(t, q) != "p" {
			t.Fatalf("attempt %d: pod not active", i)
		}
		q.Requeue("p", nil) // an error: back off
		c.Step(wait - time.Millisecond)
		q.Flush()
		if where(q, "p") != stateBackoff {
			t.Fatalf("attempt %d: left backoff before %v", i, wait)
		}
		c.Step(time.Millisecond)
		q.Flush()
		if where(q, "p") != stateActive {
			t.Fatalf("attempt %d: still backing off after %v", i, wait)
		}
	}
}

func TestQueueMovedWhileBackingOff(t *testing.T) {
	q, c := newTestQueue()
	q.Add(st.Pod("p").Info())
	pop(t, q)
	q.Requeue("p", fitRejected)
	q.Move(evNodeAdd) // right away: the pod still owes its backoff
	if where(q, "p") != stateBackoff {
		t.Fatal("a moved pod must finish its backoff")
	}
	c.Step(time.Second)
	q.Flush()
	if pop(t, q) != "p" {
		t.Fatal("pod not retried after its backoff")
	}
}

// An event that happens while the pod is being scheduled must not be lost.
func TestQueueEventDuringAttempt(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(st.Pod("p").Info())
	pop(t, q)
	q.Move(evAssignedPodDelete)
	q.Requeue("p", fitRejected)
	if where(q, "p") != stateBackoff {
		t.Errorf("state %v: the pod missed the event that came during its attempt", where(q, "p"))
	}
	// An unrelated event does not count.
	q.Add(st.Pod("r").Info())
	pop(t, q)
	q.Move(ClusterEvent{Plugins: sets.New(filter.NodeUnschedulableName)})
	q.Requeue("r", fitRejected)
	if where(q, "r") != stateUnschedulable {
		t.Errorf("state %v: an unrelated event moved the pod", where(q, "r"))
	}
}

func TestQueueSafetyFlush(t *testing.T) {
	q, c := newTestQueue()
	q.Add(st.Pod("p").Info())
	pop(t, q)
	q.Requeue("p", fitRejected)
	c.Step(DefaultMaxUnschedulable - time.Second)
	q.Flush()
	if where(q, "p") != stateUnschedulable {
		t.Fatal("flushed too early")
	}
	c.Step(time.Second)
	q.Flush()
	if pop(t, q) != "p" {
		t.Fatal("not retried after DefaultMaxUnschedulable")
	}
}

func TestQueueUpdates(t *testing.T) {
	q, c := newTestQueue()
	p := st.Pod("p")
	q.Add(p.Info())
	pop(t, q)
	q.Requeue("p", sets.New(filter.TaintTolerationName))
	c.Step(2 * time.Second)

	// Our own condition update (status only) is no reason to retry.
	withStatus := p.Obj().DeepCopy()
	withStatus.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	q.Add(framework.NewPendingPodInfo(withStatus, 0))
	if where(q, "p") != stateUnschedulable {
		t.Fatal("a status update moved the pod")
	}
	// A new toleration is.
	tolerant := withStatus.DeepCopy()
	tolerant.Spec.Tolerations = []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}}
	q.Add(framework.NewPendingPodInfo(tolerant, 0))
	if pop(t, q) != "p" {
		t.Fatal("a spec change did not move the pod")
	}
}

func TestQueueGatesAndBoundPods(t *testing.T) {
	q, _ := newTestQueue()
	g := st.Pod("g")
	g.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "wait"}}
	q.Add(g.Info())
	if pop(t, q) != "" {
		t.Fatal("a gated pod was handed out")
	}
	ungated := g.Obj().DeepCopy()
	ungated.Spec.SchedulingGates = nil
	q.Add(framework.NewPendingPodInfo(ungated, 0))
	if pop(t, q) != "g" {
		t.Fatal("an ungated pod was not handed out")
	}
	q.Done("g")
	q.Add(framework.NewPendingPodInfo(ungated, 0)) // a stale update of the pending pod
	if pop(t, q) != "" {
		t.Fatal("a bound pod was handed out again")
	}
	q.Delete("g")
	if a, b, u, o := q.Len(); a+b+u+o != 0 {
		t.Fatal("Delete left the pod behind")
	}
}
