package probe

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// event is one event the probes recorded, with the field path it refers to.
type event struct {
	eventtype, reason, message, fieldPath string
}

// recorder keeps the events recorded, with their involved object's field path (which
// client-go's FakeRecorder does not show).
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, _ := obj.(*corev1.ObjectReference)
	path := ""
	if ref != nil {
		path = ref.FieldPath
	}
	r.events = append(r.events, event{eventtype, reason, message, path})
}

func (r *recorder) Eventf(obj runtime.Object, eventtype, reason, format string, args ...any) {
	r.Event(obj, eventtype, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, eventtype, reason, format string, args ...any) {
	r.Eventf(obj, eventtype, reason, format, args...)
}

// find is the first event whose message starts with prefix.
func (r *recorder) find(prefix string) (event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e.message, prefix) {
			return e, true
		}
	}
	return event{}, false
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e.message, prefix) {
			n++
		}
	}
	return n
}

// fixture is a Manager whose probe "seconds" are milliseconds.
type fixture struct {
	t       *testing.T
	m       *Manager
	rec     *recorder
	changes sync.Map // types.UID -> *atomic.Int64
}

func newFixture(t *testing.T, exec Exec) *fixture {
	f := &fixture{t: t, rec: &recorder{}}
	f.m = NewManager(exec, f.rec, func(uid types.UID) {
		n, _ := f.changes.LoadOrStore(uid, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	})
	f.m.unit = time.Millisecond
	return f
}

func (f *fixture) changed(uid types.UID) int64 {
	n, ok := f.changes.Load(uid)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// run makes pod's containers run (each with ID <name>-1) and removes the pod when the test
// ends.
func (f *fixture) run(pod *corev1.Pod) map[string]Container {
	running := map[string]Container{}
	for _, c := range podContainers(pod) {
		running[c.Name] = Container{ID: c.Name + "-1", StartedAt: time.Now()}
	}
	f.m.Update(pod, "127.0.0.1", running)
	f.t.Cleanup(func() { f.m.Remove(pod.UID) })
	return running
}

func newPod(containers ...corev1.Container) *corev1.Pod {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: containers}}
	pod.Name, pod.Namespace, pod.UID = "web", "default", types.UID("uid-"+containers[0].Name)
	return pod
}

// eventually polls cond until it holds, failing the test after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// execCall is one exec probe waiting for the test to decide its outcome.
type execCall struct {
	containerID string
	cmd         []string
	timeout     time.Duration
	reply       chan execReply
}

type execReply struct {
	output string
	code   int
	err    error
}

// scriptedExec hands every exec probe to the test, by command; the probe returns what the
// test replies. Since a worker probes again only after handling a reply, receiving its
// next call proves the previous reply was handled.
type scriptedExec struct {
	mu    sync.Mutex
	calls map[string]chan execCall
}

func newScriptedExec() *scriptedExec { return &scriptedExec{calls: map[string]chan execCall{}} }

// of is the channel the probes running command cmd wait on.
func (s *scriptedExec) of(cmd string) chan execCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.calls[cmd]
	if ch == nil {
		ch = make(chan execCall)
		s.calls[cmd] = ch
	}
	return ch
}

func (s *scriptedExec) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	call := execCall{containerID, cmd, timeout, make(chan execReply, 1)}
	select {
	case s.of(strings.Join(cmd, " ")) <- call:
	case <-ctx.Done():
		return nil, nil, 0, ctx.Err()
	}
	select {
	case r := <-call.reply:
		return []byte(r.output), nil, r.code, r.err
	case <-ctx.Done():
		return nil, nil, 0, ctx.Err()
	}
}

// next is the next exec probe of command cmd.
func (s *scriptedExec) next(t *testing.T, cmd string) execCall {
	t.Helper()
	select {
	case c := <-s.of(cmd):
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no exec probe %q", cmd)
	}
	panic("unreachable")
}

// pending says whether a probe of command cmd waits for a reply.
func (s *scriptedExec) pending(cmd string) bool {
	select {
	case c := <-s.of(cmd):
		c.reply <- execReply{}
		return true
	default:
		return false
	}
}

func execProbe(cmd string, failureThreshold, successThreshold int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
		PeriodSeconds:    1,
		TimeoutSeconds:   1000,
		FailureThreshold: failureThreshold,
		SuccessThreshold: successThreshold,
	}
}
