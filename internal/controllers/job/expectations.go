package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gantryhq/gantry/internal/controller"
)

// expectations are the kit's pod creation and deletion expectations per Job key, plus the
// pods whose tracking finalizer the controller has removed without the informer having shown
// it: such a pod is not counted twice. It is safe for concurrent use.
type expectations struct {
	*controller.Expectations

	mu sync.Mutex
	// finalizers holds, per Job key, the UIDs of pods whose finalizer removal is not yet seen.
	finalizers map[string]sets.Set[types.UID]
}

func newExpectations(now func() time.Time) *expectations {
	e := controller.NewExpectations()
	e.Now = now
	return &expectations{Expectations: e, finalizers: map[string]sets.Set[types.UID]{}}
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
	e.Forget(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.finalizers, key)
}
