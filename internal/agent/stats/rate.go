package stats

import (
	"sync"
	"time"
)

// cpuSample is a cumulative CPU time read at a time, with the rate it gave against the
// sample before it (hasRate false for a first sample).
type cpuSample struct {
	at      time.Time
	usage   uint64
	rate    uint64
	hasRate bool
}

// rateCache turns cumulative CPU time into nanocores: it keeps the last sample of each
// container (by ID) and of the node (by nodeKey). It is safe for concurrent use.
type rateCache struct {
	mu      sync.Mutex
	samples map[string]cpuSample
}

// nodeKey is the node's entry; CRI container IDs are never empty.
const nodeKey = ""

func newRateCache() *rateCache {
	return &rateCache{samples: map[string]cpuSample{}}
}

// update records usage read at at for key and returns the usage rate in nanocores since the
// previous sample; ok is false for a first sample. A sample no newer than the kept one (two
// callers racing, or a runtime answering from its own cache) gets the kept sample's rate, so
// concurrent callers see the same figure.
func (c *rateCache) update(key string, at time.Time, usage uint64) (nanoCores uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, seen := c.samples[key]
	if seen && !at.After(prev.at) {
		return prev.rate, prev.hasRate
	}
	cur := cpuSample{at: at, usage: usage}
	// A counter going backwards is a new container or cgroup under an old key: start over.
	if seen && usage >= prev.usage {
		elapsed := uint64(at.Sub(prev.at).Nanoseconds())
		cur.rate = uint64(float64(usage-prev.usage) * float64(time.Second) / float64(elapsed))
		cur.hasRate = true
	}
	c.samples[key] = cur
	return cur.rate, cur.hasRate
}

// retain forgets the containers not in live (they are gone), keeping the node's sample.
func (c *rateCache) retain(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.samples {
		if key != nodeKey && !live[key] {
			delete(c.samples, key)
		}
	}
}
