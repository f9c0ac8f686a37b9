package simulate

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// addressPlan splits a range into one equal block per node, at most a /24 each. In the block
// of node i, the first address is unused, the second is the node's (its InternalIP and its
// pods' hostIP), then come its pods' addresses, and the last is unused.
//
// The addresses are made up: they are written into status and nothing sends traffic to them.
type addressPlan struct {
	base  uint32
	block uint32
}

// maxBlock is the largest block a node gets: a /24, as node IPAM gives by default.
const maxBlock = 256

func newAddressPlan(prefix netip.Prefix, nodes int) (addressPlan, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return addressPlan{}, fmt.Errorf("pod CIDR %s: want an IPv4 range", prefix)
	}
	prefix = prefix.Masked()
	size := uint64(1) << (32 - prefix.Bits())
	block := uint64(maxBlock)
	for nodes > 0 && block*uint64(nodes) > size {
		block /= 2
	}
	if block < 4 {
		return addressPlan{}, fmt.Errorf("pod CIDR %s is too small for %d nodes: each needs at least 4 addresses", prefix, nodes)
	}
	a := prefix.Addr().As4()
	return addressPlan{base: binary.BigEndian.Uint32(a[:]), block: uint32(block)}, nil
}

func (p addressPlan) addr(i int, offset uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p.base+uint32(i)*p.block+offset)
	return netip.AddrFrom4(b)
}

// hostIP is node i's address.
func (p addressPlan) hostIP(i int) netip.Addr { return p.addr(i, 1) }

// podIPs is the pool of node i's pod addresses.
func (p addressPlan) podIPs(i int) *ipPool {
	return &ipPool{first: p.addr(i, 2), size: int(p.block) - 3, byUID: map[types.UID]int{}, used: map[int]int{}}
}

// ipPool hands out one node's pod addresses, one per pod, and takes them back when pods go.
// When every address is in use it hands out used ones again: the range was too small for
// the pods, and the addresses repeat (assign says so).
type ipPool struct {
	first netip.Addr
	size  int

	mu    sync.Mutex
	next  int
	byUID map[types.UID]int
	// used counts the pods holding each offset (more than one only once addresses repeat).
	used map[int]int
}

// assign returns uid's address, choosing one if it has none. unique is false if the address
// is also another pod's.
func (p *ipPool) assign(uid types.UID) (addr netip.Addr, unique bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.byUID[uid]; ok {
		return p.at(off), p.used[off] == 1
	}
	off := p.next
	for range p.size {
		if p.used[off] == 0 {
			break
		}
		off = (off + 1) % p.size
	}
	p.next = (off + 1) % p.size
	p.byUID[uid] = off
	p.used[off]++
	return p.at(off), p.used[off] == 1
}

// reserve records that uid already holds addr (a pod started before the agent restarted).
// Addresses outside the pool are ignored.
func (p *ipPool) reserve(uid types.UID, addr string) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return
	}
	first, other := p.first.As4(), a.As4()
	off := int(binary.BigEndian.Uint32(other[:])) - int(binary.BigEndian.Uint32(first[:]))
	if off < 0 || off >= p.size {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byUID[uid]; ok {
		return
	}
	p.byUID[uid] = off
	p.used[off]++
}

// release gives back uid's address.
func (p *ipPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, ok := p.byUID[uid]
	if !ok {
		return
	}
	delete(p.byUID, uid)
	if p.used[off]--; p.used[off] <= 0 {
		delete(p.used, off)
	}
}

func (p *ipPool) at(off int) netip.Addr {
	a := p.first.As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(off))
	return netip.AddrFrom4(a)
}
