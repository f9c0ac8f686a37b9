package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

// harness runs a Scheduler against client-go's fake clientset. The write side is recorded:
// bindings set spec.nodeName through the fake client (so the informers see them), evictions
// delete, status updates are kept.
type harness struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	events *events.FakeRecorder

	mu       sync.Mutex
	binds    []string
	evicted  []string
	statuses map[string]v1.PodStatus
	log      []string
}

func (h *harness) Bind(ctx context.Context, pod *v1.Pod, node string) error {
	cur, err := h.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec.NodeName = node
	if _, err := h.client.CoreV1().Pods(pod.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	h.mu.Lock()
	h.binds = append(h.binds, pod.Name+"->"+node)
	h.mu.Unlock()
	return nil
}

func (h *harness) Evict(ctx context.Context, victim, preemptor *v1.Pod, node string, mayViolatePDB bool) error {
	h.mu.Lock()
	h.evicted = append(h.evicted, victim.Name)
	h.mu.Unlock()
	return h.client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{})
}

func (h *harness) UpdatePodStatus(ctx context.Context, pod *v1.Pod, status *v1.PodStatus) error {
	h.mu.Lock()
	h.statuses[pod.Name] = *status
	h.mu.Unlock()
	return nil
}

func startHarness(t *testing.T, objs ...*v1.Node) *harness {
	h := &harness{
		t:        t,
		client:   fake.NewClientset(),
		clock:    clocktesting.NewFakeClock(time.Now()),
		events:   events.NewFakeRecorder(100),
		statuses: map[string]v1.PodStatus{},
	}
	for _, n := range objs {
		h.createNode(n)
	}
	factory := informers.NewSharedInformerFactory(h.client, 0)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	s := New(h.client, factory, Options{Binder: h, Evictor: h, StatusWriter: h, Recorder: h.events, Clock: h.clock, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return h
}

func (h *harness) createNode(n *v1.Node) {
	if _, err := h.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) createPod(p *v1.Pod) {
	if _, err := h.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// nodeOf waits for the pod to be bound; the fake clock is stepped meanwhile so that
// backoffs pass.
func (h *harness) nodeOf(name string) string {
	h.t.Helper()
	var node string
	h.eventually("pod "+name+" bound", func() bool {
		p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			node = p.Spec.NodeName
		}
		return node != ""
	})
	return node
}

func (h *harness) eventually(what string, f func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
		h.clock.Step(100 * time.Millisecond)
	}
}

// event waits for an event with the given prefix ("Warning FailedScheduling …").
func (h *harness) event(prefix string) string {
	h.t.Helper()
	var found string
	h.eventually("event "+prefix, func() bool {
		for {
			select {
			case e := <-h.events.Events:
				h.log = append(h.log, e)
			default:
				for _, e := range h.log {
					if strings.HasPrefix(e, prefix) {
						found = e
						return true
					}
				}
				return false
			}
		}
	})
	return found
}

func TestSchedulerBinds(t *testing.T) {
	h := startHarness(t, st.Node("n1").Obj(), st.Node("n2").Obj())
	for i := 0; i < 10; i++ {
		h.createPod(st.Pod(fmt.Sprint("p", i)).Owner("rs").Req("100m", "").Obj())
	}
	h.createPod(st.Pod("other").Obj())
	other := st.Pod("someone-elses").Obj()
	other.Spec.SchedulerName = "custom"
	h.createPod(other)
	counts := map[string]int{}
	for i := 0; i < 10; i++ {
		counts[h.nodeOf(fmt.Sprint("p", i))]++
	}
	if counts["n1"] != 5 || counts["n2"] != 5 {
		t.Errorf("replicas placed %v, want 5 on each node", counts)
	}
	h.nodeOf("other")
	if e := h.event("Normal Scheduled Successfully assigned default/p0 to n"); e == "" {
		t.Error("no Scheduled event")
	}
	time.Sleep(50 * time.Millisecond)
	if p, _ := h.client.CoreV1().Pods("default").Get(context.Background(), "someone-elses", metav1.GetOptions{}); p.Spec.NodeName != "" {
		t.Error("placed a pod of another scheduler")
	}
}

func TestSchedulerRetriesWhenANodeIsAdded(t *testing.T) {
	h := startHarness(t, st.Node("small").Capacity("1", "1Gi", "10").Obj())
	h.createPod(st.Pod("big").Req("2", "").Obj())
	want := "Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	if got := h.event("Warning FailedScheduling"); got != want {
		t.Errorf("event %q\nwant  %q", got, want)
	}
	h.eventually("PodScheduled condition", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.statuses["big"].Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable &&
				c.Message == strings.TrimPrefix(want, "Warning FailedScheduling ") {
				return true
			}
		}
		return false
	})
	h.createNode(st.Node("large").Capacity("8", "8Gi", "10").Obj())
	if n := h.nodeOf("big"); n != "large" {
		t.Errorf("bound to %s", n)
	}
}

func TestSchedulerRetriesWhenAPodIsDeleted(t *testing.T) {
	h := startHarness(t, st.Node("n").Capacity("1", "1Gi", "10").Obj())
	h.createPod(st.Pod("first").Req("1", "").Obj())
	h.nodeOf("first")
	h.createPod(st.Pod("second").Req("1", "").Obj())
	h.event("Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu.")
	if err := h.client.CoreV1().Pods("default").Delete(context.Background(), "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := h.nodeOf("second"); n != "n" {
		t.Errorf("bound to %s", n)
	}
}

func TestSchedulerPreempts(t *testing.T) {
	h := startHarness(t, st.Node("n").Capacity("1", "1Gi", "10").Obj())
	h.createPod(st.Pod("low").Req("1", "").Priority(1).Obj())
	h.nodeOf("low")
	h.createPod(st.Pod("high").Req("1", "").Priority(1000).Obj())
	h.event("Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu. preemption: found a potential placement for pod on node n, preempting 1 victims")
	h.event("Normal Preempted Preempted by pod high on node n")
	if n := h.nodeOf("high"); n != "n" {
		t.Errorf("bound to %s", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if fmt.Sprint(h.evicted) != "[low]" {
		t.Errorf("evicted %v", h.evicted)
	}
	if got := h.statuses["high"].NominatedNodeName; got != "n" {
		t.Errorf("nominatedNodeName %q", got)
	}
}

var _ kubernetes.Interface = (*fake.Clientset)(nil)

// testWriter routes the scheduler's logs to the test.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
