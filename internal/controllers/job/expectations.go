package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// expectationsTTL bounds how long a missed watch event can hold a Job still.
const expectationsTTL = 5 * time.Minute

// expectations records, per Job key, the pod creations and deletions the controller has
// asked for and the informer has not yet shown, and the pods whose tracking finalizer it has
// removed without the informer having shown it. Until the creations and deletions are seen
// (or expire) the Job is not resized again, so a lagging cache never causes extra pods; a pod
// whose finalizer removal is pending is not counted twice. It is safe for concurrent use.
type expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expectation
	// finalizers holds, per Job key, the UIDs of pods whose finalizer removal is not yet seen.
	finalizers map[string]sets.Set[types.UID]
}

type expectation struct {
	adds int
	dels sets.Set[types.UID]
	at   time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[string]*expectation{}, finalizers: map[string]sets.Set[types.UID]{}}
}

// satisfied reports whether every creation and deletion expected for key has been observed,
// or they have expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && x.dels.Len() == 0) || e.now().Sub(x.at) > expectationsTTL
}

// expect replaces what is expected for key with adds creations and the deletion of dels.
func (e *expectations) expect(key string, adds int, dels []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: sets.New(dels...), at: e.now()}
}

// created lowers the expected creations of key by one: a pod was observed, or a create failed.
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// deleted notes that the pod with uid is going or gone (observed, or the delete failed).
func (e *expectations) deleted(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.dels.Delete(uid)
	}
}

// expectFinalizerRemoved notes that the finalizer of the pod with uid is being removed.
func (e *expectations) expectFinalizerRemoved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.finalizers[key]
	if !ok {
		s = sets.New[types.UID]()
		e.finalizers[key] = s
	}
	s.Insert(uid)
}

// finalizerRemoved notes that the removal of uid's finalizer was observed (or failed).
func (e *expectations) finalizerRemoved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.finalizers[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(e.finalizers, key)
		}
	}
}

// pendingFinalizers returns a copy of the UIDs whose finalizer removal key still waits for.
func (e *expectations) pendingFinalizers(key string) sets.Set[types.UID] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.finalizers[key].Clone()
}

// forget drops everything about key (the Job is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
	delete(e.finalizers, key)
}
