package podnet

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// routeKind says how a route sends packets.
type routeKind int

const (
	// viaNode: through another node's address (host-gw).
	viaNode routeKind = iota
	// viaVTEP: through another node's VXLAN address on the VXLAN device, onlink.
	viaVTEP
	// blackhole: dropped, for the cluster range not covered by a more specific route.
	blackhole
	// discard: to the loopback device from this node's address, for the service range. A
	// blackhole would make the kernel refuse a local connect() to a Service IP (EINVAL)
	// before the service proxy's nftables output chain can translate it; through lo the
	// lookup succeeds and a translated packet is routed again to its endpoint. A packet to a
	// service address that nothing translated (no such Service, or no endpoints) is refused
	// by the proxy's filter chains on its way to lo, so it never leaves the node.
	discard
)

// route is one route this node should have.
type route struct {
	Dst  netip.Prefix
	Kind routeKind
	// Via is the next hop: a node's address or VTEP address.
	Via netip.Addr
	// Src is the preferred source of a discard route.
	Src netip.Addr
}

// String renders r as `ip route` shows it.
func (r route) String() string {
	switch r.Kind {
	case viaNode:
		return fmt.Sprintf("%s via %s", r.Dst, r.Via)
	case viaVTEP:
		return fmt.Sprintf("%s via %s dev %s onlink", r.Dst, r.Via, VXLANDevice)
	case blackhole:
		return fmt.Sprintf("blackhole %s", r.Dst)
	default:
		return fmt.Sprintf("%s dev lo src %s", r.Dst, r.Src)
	}
}

// peer is another node reached through VXLAN.
type peer struct {
	Node   string
	NodeIP netip.Addr
	VTEP   netip.Addr
	MAC    net.HardwareAddr
}

// plan is the network state this node should have, computed from the Nodes alone.
type plan struct {
	Routes []route
	// Peers are the neighbor and FDB entries of the VXLAN device (vxlan mode).
	Peers []peer
}

// desired computes the plan for cfg (with defaults) from the cluster's Nodes. Nodes without
// a usable range, address or (vxlan) VTEP MAC are skipped and logged: they are routed once
// their Node says more.
func desired(cfg Config, nodes []*corev1.Node, log *slog.Logger) plan {
	p := plan{Routes: []route{
		{Dst: cfg.ClusterCIDR, Kind: blackhole},
		{Dst: cfg.ServiceCIDR, Kind: discard, Src: cfg.NodeIP},
	}}
	// Oldest first: if two Nodes claim one range (the allocator never does that), the node
	// that had it first keeps it.
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b *corev1.Node) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	taken := []netip.Prefix{cfg.PodCIDR}
	for _, n := range nodes {
		if n.Name == cfg.NodeName {
			continue
		}
		cidr, ip, ok := remote(n)
		switch {
		case !ok:
			continue // no range or address yet
		case cidr.Bits() < cfg.ClusterCIDR.Bits() || !cfg.ClusterCIDR.Contains(cidr.Addr()):
			log.Warn("node's pod CIDR is outside the cluster CIDR; not routed", "node", n.Name, "podCIDR", cidr, "clusterCIDR", cfg.ClusterCIDR)
			continue
		case slices.ContainsFunc(taken, cidr.Overlaps):
			log.Warn("node's pod CIDR overlaps another node's; not routed", "node", n.Name, "podCIDR", cidr)
			continue
		}
		if cfg.Mode == ModeHostGW {
			p.Routes = append(p.Routes, route{Dst: cidr, Kind: viaNode, Via: ip})
			taken = append(taken, cidr)
			continue
		}
		mac, err := net.ParseMAC(n.Annotations[AnnotationVTEPMAC])
		if err != nil || len(mac) != 6 {
			log.Debug("node has not published its VTEP MAC yet", "node", n.Name)
			continue
		}
		p.Peers = append(p.Peers, peer{Node: n.Name, NodeIP: ip, VTEP: vtepAddr(cidr), MAC: mac})
		p.Routes = append(p.Routes, route{Dst: cidr, Kind: viaVTEP, Via: vtepAddr(cidr)})
		taken = append(taken, cidr)
	}
	slices.SortFunc(p.Routes, func(a, b route) int {
		return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), cmp.Compare(a.Dst.Bits(), b.Dst.Bits()), cmp.Compare(a.Kind, b.Kind))
	})
	return p
}

// remote is a node's IPv4 pod range (masked) and InternalIP, if it has both.
func remote(n *corev1.Node) (netip.Prefix, netip.Addr, bool) {
	var cidr netip.Prefix
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		if c, err := netip.ParsePrefix(s); err == nil && c.Addr().Is4() {
			cidr = c.Masked()
			break
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() && cidr.IsValid() {
			return cidr, ip, true
		}
	}
	return netip.Prefix{}, netip.Addr{}, false
}

// routingChanged says whether a Node update changes what the plan is made of.
func routingChanged(old, n *corev1.Node) bool {
	oc, oip, ook := remote(old)
	nc, nip, nok := remote(n)
	return oc != nc || oip != nip || ook != nok ||
		old.Annotations[AnnotationVTEPMAC] != n.Annotations[AnnotationVTEPMAC] ||
		!old.CreationTimestamp.Equal(&n.CreationTimestamp)
}
