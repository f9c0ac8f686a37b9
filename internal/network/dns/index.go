package dns

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// key names a Service: every name in the zone belongs to exactly one Service, so a Service's
// records can be replaced as a whole when any of its objects changes.
type key struct{ ns, name string }

// entry is what one name in the zone answers. Entries are immutable once in the index, so a
// query reads one without holding the index lock.
type entry struct {
	addrs   []netip.Addr // A and AAAA
	target  string       // CNAME target of an ExternalName Service, fully qualified
	srvs    []srv        // SRV answers
	shuffle bool         // endpoint addresses: rotate them per query, as CoreDNS's loadbalance does
}

// srv is one SRV answer with the addresses of its target for the additional section.
type srv struct {
	port   uint16
	target string
	addrs  []netip.Addr
}

// records is everything one Service contributes to the zone: its names (lower case, fully
// qualified) and the reverse names of its addresses.
type records struct {
	names map[string]*entry
	ptrs  map[netip.Addr][]string
}

// index maps names to entries. It is rebuilt one Service at a time from informer events, so a
// query costs one map lookup whatever the number of Services.
type index struct {
	zone string // lower case, fully qualified: "cluster.local."

	mu     sync.RWMutex
	names  map[string]*entry
	ents   map[string]int // empty non-terminals: name → number of names below it
	ptrs   map[netip.Addr]map[key][]string
	owners map[key]*records
	serial uint32 // the SOA serial: when the index last changed, in Unix seconds
}

func newIndex(zone string) *index {
	return &index{
		zone:   zone,
		names:  map[string]*entry{},
		ents:   map[string]int{},
		ptrs:   map[netip.Addr]map[key][]string{},
		owners: map[key]*records{},
		serial: uint32(time.Now().Unix()),
	}
}

// set replaces the records of Service k with r; a nil r removes them.
func (ix *index) set(k key, r *records) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.serial = uint32(time.Now().Unix())
	if old := ix.owners[k]; old != nil {
		for name := range old.names {
			delete(ix.names, name)
			ix.walkParents(name, -1)
		}
		for a := range old.ptrs {
			delete(ix.ptrs[a], k)
			if len(ix.ptrs[a]) == 0 {
				delete(ix.ptrs, a)
			}
		}
		delete(ix.owners, k)
	}
	if r == nil {
		return
	}
	for name, e := range r.names {
		ix.names[name] = e
		ix.walkParents(name, +1)
	}
	for a, targets := range r.ptrs {
		if ix.ptrs[a] == nil {
			ix.ptrs[a] = map[key][]string{}
		}
		ix.ptrs[a][k] = targets
	}
	ix.owners[k] = r
}

// walkParents counts name under each of its ancestors below the apex, so that an ancestor
// with names below it answers NODATA, not NXDOMAIN: resolvers that follow RFC 8020 treat
// NXDOMAIN as "nothing below exists either".
func (ix *index) walkParents(name string, delta int) {
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 || i == len(name)-1 {
			return
		}
		name = name[i+1:]
		if name == ix.zone || len(name) <= len(ix.zone) {
			return
		}
		ix.ents[name] += delta
		if ix.ents[name] <= 0 {
			delete(ix.ents, name)
		}
	}
}

// lookup returns the entry of name, and whether name exists at all (an entry, or an empty
// non-terminal with names below it).
func (ix *index) lookup(name string) (*entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if e, ok := ix.names[name]; ok {
		return e, true
	}
	return nil, ix.ents[name] > 0
}

// reverse returns the names address a reverses to, in a stable order.
func (ix *index) reverse(a netip.Addr) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for _, targets := range ix.ptrs[a] {
		out = append(out, targets...)
	}
	sortUnique(&out)
	return out
}

// soaSerial is the zone's serial number: it changes whenever the zone's content does.
func (ix *index) soaSerial() uint32 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.serial
}
