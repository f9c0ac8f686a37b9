package dns

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Caps on how long an upstream answer is kept, whatever its TTL says (CoreDNS's cache
// defaults), and on the number of answers kept.
const (
	maxPositiveTTL = time.Hour
	maxNegativeTTL = 30 * time.Minute
	maxCacheItems  = 10000
)

type cacheKey struct {
	name          string // lower case
	qtype, qclass uint16
	do, cd        bool // DNSSEC OK and Checking Disabled change what upstreams return
}

type cacheItem struct {
	msg     *dns.Msg
	stored  time.Time
	expires time.Time
}

// answerCache keeps upstream answers, positive and negative (RFC 2308), for as long as their TTLs
// allow. A full cache drops an arbitrary answer to make room: simple, and good enough for the
// small working set of one node's pods.
type answerCache struct {
	now func() time.Time

	mu    sync.Mutex
	items map[cacheKey]cacheItem
}

func newAnswerCache(now func() time.Time) *answerCache {
	return &answerCache{now: now, items: map[cacheKey]cacheItem{}}
}

// get returns a copy of the cached answer for k with its TTLs lowered by the time it has been
// kept, or nil.
func (c *answerCache) get(k cacheKey) *dns.Msg {
	now := c.now()
	c.mu.Lock()
	it, ok := c.items[k]
	if ok && !now.Before(it.expires) {
		delete(c.items, k)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m := it.msg.Copy()
	age := uint32(now.Sub(it.stored) / time.Second)
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			rr.Header().Ttl = max(rr.Header().Ttl, age) - age
		}
	}
	return m
}

// put keeps m for k if it may be cached.
func (c *answerCache) put(k cacheKey, m *dns.Msg) {
	ttl, ok := cacheTTL(m)
	if !ok {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.items[k]; !exists && len(c.items) >= maxCacheItems {
		for victim := range c.items {
			delete(c.items, victim)
			break
		}
	}
	c.items[k] = cacheItem{msg: m.Copy(), stored: now, expires: now.Add(ttl)}
}

// cacheTTL is how long m may be kept: the smallest TTL of its records for an answer, the
// SOA's TTL bounded by its minimum for NXDOMAIN and NODATA (RFC 2308 §5). Negative answers
// without an SOA, truncated answers and failures are not kept.
func cacheTTL(m *dns.Msg) (time.Duration, bool) {
	if m.Truncated {
		return 0, false
	}
	switch {
	case m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0:
		ttl := uint32(1<<32 - 1)
		for _, section := range [][]dns.RR{m.Answer, m.Ns} {
			for _, rr := range section {
				ttl = min(ttl, rr.Header().Ttl)
			}
		}
		d := min(time.Duration(ttl)*time.Second, maxPositiveTTL)
		return d, d > 0
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				d := min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, maxNegativeTTL)
				return d, d > 0
			}
		}
	}
	return 0, false
}
