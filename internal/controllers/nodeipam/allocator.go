package nodeipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// maxSubnetBits caps the number of subnets at 65,536, as upstream's cidrset does.
const maxSubnetBits = 16

// reserved owns the subnets that overlap the service range; it is no valid node name.
const reserved = " reserved"

// errExhausted says that every subnet is taken.
var errExhausted = errors.New("no pod CIDR left")

// allocator hands out the subnets of a cluster range to node names. It is pure state with no
// locking: the controller uses it from one goroutine.
type allocator struct {
	cluster netip.Prefix
	bits    int
	// owners holds the node name of every subnet by index; "" is free.
	owners []string
	byNode map[string]int
	// released remembers the subnet a deleted node held, offered back to a node of that name.
	released map[string]int
	// next is where the search for a free subnet starts: after the last one handed out.
	next int
}

// newAllocator splits cluster into subnets of maskSize bits.
func newAllocator(cluster netip.Prefix, maskSize int) (*allocator, error) {
	if err := checkRange(cluster, maskSize); err != nil {
		return nil, err
	}
	return &allocator{
		cluster:  cluster.Masked(),
		bits:     maskSize,
		owners:   make([]string, 1<<(maskSize-cluster.Bits())),
		byNode:   map[string]int{},
		released: map[string]int{},
	}, nil
}

// checkRange says whether cluster can be split into subnets of maskSize bits.
func checkRange(cluster netip.Prefix, maskSize int) error {
	if !cluster.IsValid() || !cluster.Addr().Is4() {
		return fmt.Errorf("cluster CIDR %q: need an IPv4 prefix", cluster)
	}
	// A node's range holds at least a gateway and two pods (the CNI bridge's limit).
	if maskSize < cluster.Bits() || maskSize > 30 {
		return fmt.Errorf("node CIDR mask size %d: must be between the cluster CIDR's %d and 30", maskSize, cluster.Bits())
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return fmt.Errorf("node CIDR mask size %d: more than %d bits longer than the cluster CIDR %s", maskSize, maxSubnetBits, cluster)
	}
	return nil
}

// subnet is the subnet with index i.
func (a *allocator) subnet(i int) netip.Prefix {
	v := toUint32(a.cluster.Addr()) + uint32(i)<<(32-a.bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), a.bits)
}

// index is the index of subnet p, which must be one of ours exactly.
func (a *allocator) index(p netip.Prefix) (int, error) {
	if p.Bits() != a.bits || p.Masked() != p || !a.cluster.Contains(p.Addr()) {
		return 0, fmt.Errorf("%s is not a /%d subnet of the cluster CIDR %s", p, a.bits, a.cluster)
	}
	return int((toUint32(p.Addr()) - toUint32(a.cluster.Addr())) >> (32 - a.bits)), nil
}

// reserve takes every subnet that overlaps p out of use.
func (a *allocator) reserve(p netip.Prefix) {
	for i := range a.owners {
		if a.subnet(i).Overlaps(p) {
			a.owners[i] = reserved
		}
	}
}

// occupy records that node holds p (a Node that already has its range). A node holds one
// subnet: a different one it held before is freed.
func (a *allocator) occupy(node string, p netip.Prefix) error {
	i, err := a.index(p)
	if err != nil {
		return err
	}
	switch owner := a.owners[i]; owner {
	case node:
		return nil
	case "":
	case reserved:
		return fmt.Errorf("%s overlaps the service CIDR", p)
	default:
		return fmt.Errorf("%s is already held by node %s", p, owner)
	}
	a.release(node)
	a.take(node, i)
	return nil
}

// allocate returns the subnet node holds, or gives it one: its old subnet if still free, else
// the next free one.
func (a *allocator) allocate(node string) (netip.Prefix, error) {
	if i, ok := a.byNode[node]; ok {
		return a.subnet(i), nil
	}
	if i, ok := a.released[node]; ok && a.owners[i] == "" {
		a.take(node, i)
		return a.subnet(i), nil
	}
	for n := range a.owners {
		i := (a.next + n) % len(a.owners)
		if a.owners[i] == "" {
			a.take(node, i)
			a.next = i + 1
			return a.subnet(i), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w in %s", errExhausted, a.cluster)
}

// release frees the subnet node holds, if any.
func (a *allocator) release(node string) (netip.Prefix, bool) {
	i, ok := a.byNode[node]
	if !ok {
		return netip.Prefix{}, false
	}
	a.owners[i] = ""
	delete(a.byNode, node)
	a.released[node] = i
	return a.subnet(i), true
}

func (a *allocator) take(node string, i int) {
	a.owners[i] = node
	a.byNode[node] = i
	delete(a.released, node)
}

func toUint32(addr netip.Addr) uint32 {
	b := addr.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
