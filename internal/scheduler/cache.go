package scheduler

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// cache owns the snapshot the scheduling loop decides on. Informer handlers and binding
// goroutines never touch the snapshot: they post changes, which the loop applies between
// two cycles (apply). During a cycle the snapshot is therefore read-only, at no copying cost,
// and a decision sees exactly the changes posted before it started.
//
// The loop itself assumes pods as it places them, so the next decision sees a pod on its
// node before the binding is written, let alone watched back; the informer's copy of the
// bound pod then replaces the assumed one. A failed binding forgets the assumed pod.
type cache struct {
	mu      sync.Mutex
	pending []func(*cache)

	// Owned by the loop.
	snap    *framework.Snapshot
	assumed map[types.UID]bool
	// nominated holds, per node, the pods a preemption made room for.
	nominated   map[string][]*framework.PodInfo
	nominatedOn map[types.UID]string
}

func newCache() *cache {
	return &cache{
		snap:        framework.NewSnapshot(),
		assumed:     map[types.UID]bool{},
		nominated:   map[string][]*framework.PodInfo{},
		nominatedOn: map[types.UID]string{},
	}
}

// post queues a change for the loop. Safe from any goroutine.
func (c *cache) post(f func(*cache)) {
	c.mu.Lock()
	c.pending = append(c.pending, f)
	c.mu.Unlock()
}

// apply runs the queued changes. Loop only.
func (c *cache) apply() {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for i, f := range pending {
		f(c)
		pending[i] = nil
	}
}

// addPod records a pod bound to a node, confirming it if it was assumed.
func (c *cache) addPod(pi *framework.PodInfo) {
	delete(c.assumed, pi.Pod.UID)
	c.clearNomination(pi.Pod.UID)
	c.snap.AddPod(pi)
}

// removePod forgets a pod, bound, assumed or nominated.
func (c *cache) removePod(uid types.UID) {
	delete(c.assumed, uid)
	c.clearNomination(uid)
	c.snap.RemovePod(uid)
}

// assume places pi (whose spec.nodeName is set) before its binding is confirmed.
func (c *cache) assume(pi *framework.PodInfo) {
	c.clearNomination(pi.Pod.UID)
	c.assumed[pi.Pod.UID] = true
	c.snap.AddPod(pi)
}

// forget undoes assume after a failed binding, unless the informer confirmed the pod since.
func (c *cache) forget(uid types.UID) {
	if c.assumed[uid] {
		delete(c.assumed, uid)
		c.snap.RemovePod(uid)
	}
}

// nominate records that pi is to go to node once its victims are gone.
func (c *cache) nominate(pi *framework.PodInfo, node string) {
	c.clearNomination(pi.Pod.UID)
	c.nominated[node] = append(c.nominated[node], pi)
	c.nominatedOn[pi.Pod.UID] = node
}

func (c *cache) clearNomination(uid types.UID) {
	node, ok := c.nominatedOn[uid]
	if !ok {
		return
	}
	delete(c.nominatedOn, uid)
	list := c.nominated[node]
	for i, p := range list {
		if p.Pod.UID == uid {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(c.nominated, node)
	} else {
		c.nominated[node] = list
	}
}

// nominatedPods implements Nominated.
func (c *cache) nominatedPods(node string) []*framework.PodInfo {
	return c.nominated[node]
}
