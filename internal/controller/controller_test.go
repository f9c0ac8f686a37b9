package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recorder counts reconciles per key and answers with scripted errors.
type recorder struct {
	mu      sync.Mutex
	calls   map[string]int
	answers map[string][]error
	done    chan string
}

func (r *recorder) Reconcile(_ context.Context, key string) error {
	r.mu.Lock()
	n := r.calls[key]
	r.calls[key]++
	var err error
	if n < len(r.answers[key]) {
		err = r.answers[key][n]
	}
	r.mu.Unlock()
	r.done <- key
	return err
}

func TestErrorContract(t *testing.T) {
	r := &recorder{
		calls: map[string]int{},
		answers: map[string][]error{
			"ns/retry":    {errors.New("transient"), errors.New("transient")},
			"ns/terminal": {Terminal(errors.New("bad spec"))},
			"ns/later":    {RequeueAfter(20 * time.Millisecond)},
		},
		done: make(chan string, 100),
	}
	c := New("test", r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx, 2)
	for _, k := range []string{"ns/ok", "ns/retry", "ns/terminal", "ns/later"} {
		c.EnqueueKey(k)
	}
	want := map[string]int{"ns/ok": 1, "ns/retry": 3, "ns/terminal": 1, "ns/later": 2}
	total := 0
	for _, n := range want {
		total += n
	}
	deadline := time.After(10 * time.Second)
	for i := 0; i < total; i++ {
		select {
		case <-r.done:
		case <-deadline:
			t.Fatalf("timed out; calls so far %v", r.calls)
		}
	}
	// Nothing more may come: terminal and successful keys are not retried.
	select {
	case k := <-r.done:
		t.Fatalf("unexpected extra reconcile of %s", k)
	case <-time.After(100 * time.Millisecond):
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range want {
		if r.calls[k] != n {
			t.Errorf("%s reconciled %d times, want %d", k, r.calls[k], n)
		}
	}
}
