package controller

import (
	"sync"
	"time"
)

// ExpectationsTTL bounds how long a missed watch event can hold an owner still.
const ExpectationsTTL = 5 * time.Minute

// Expectations records, per owner key, the creations and deletions of dependents a controller
// has asked for and its informer has not yet shown. Until they are seen (or ExpectationsTTL
// passes) the owner is not resized again, so a lagging cache never causes double creates or
// deletes. It is safe for concurrent use.
type Expectations struct {
	mu sync.Mutex
	// Now is the clock; tests replace it.
	Now func() time.Time
	m   map[string]*expectation
}

type expectation struct {
	adds int
	dels map[string]bool // UIDs
	at   time.Time
}

// NewExpectations returns empty expectations on the real clock.
func NewExpectations() *Expectations {
	return &Expectations{Now: time.Now, m: map[string]*expectation{}}
}

// Satisfied reports whether everything expected for key has been observed, or has expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && len(x.dels) == 0) || e.Now().Sub(x.at) > ExpectationsTTL
}

// Expect replaces what is expected for key with adds creations and the deletion of dels.
func (e *Expectations) Expect(key string, adds int, dels []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, dels: map[string]bool{}, at: e.Now()}
	for _, uid := range dels {
		x.dels[uid] = true
	}
	e.m[key] = x
}

// Created lowers the expected creations of key by one: one was observed, or a create failed.
func (e *Expectations) Created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// Deleted notes that the dependent with uid is gone or going (observed, or the delete
// failed).
func (e *Expectations) Deleted(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, uid)
	}
}

// Forget drops everything about key (the owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
