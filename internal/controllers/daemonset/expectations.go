package daemonset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long a missed watch event can hold a DaemonSet still.
const expectationsTTL = 5 * time.Minute

// expectations records, per DaemonSet key, the pod creations and deletions the controller
// has asked for and the informer has not yet shown. It is safe for concurrent use.
type expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expectation
}

type expectation struct {
	adds int
	dels map[string]bool // pod UIDs
	at   time.Time
}

func newExpectations() *expectations {
	return &expectations{now: time.Now, m: map[string]*expectation{}}
}

// satisfied reports whether everything expected for key has been observed, or has expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && len(x.dels) == 0) || e.now().Sub(x.at) > expectationsTTL
}

// expect replaces what is expected for key with adds creations and the deletion of dels.
func (e *expectations) expect(key string, adds int, dels []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, dels: map[string]bool{}, at: e.now()}
	for _, uid := range dels {
		x.dels[uid] = true
	}
	e.m[key] = x
}

// created lowers the expected creations of key by one: a pod was observed, or a create failed.
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// deleted notes that the pod with uid is gone or going (observed, or the delete failed).
func (e *expectations) deleted(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, uid)
	}
}

// forget drops everything about key (the DaemonSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
