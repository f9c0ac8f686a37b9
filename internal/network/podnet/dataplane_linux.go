package podnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dataplane makes a plan real through one netlink handle (one network namespace's).
type dataplane struct {
	h   *netlink.Handle
	cfg Config
	log *slog.Logger
}

// apply brings the namespace in line with p: the VXLAN device (or its absence), our routes,
// and the VXLAN device's neighbor and FDB entries.
func (d *dataplane) apply(p plan) error {
	vxlan := 0
	if d.cfg.Mode == ModeVXLAN {
		link, err := d.ensureVXLAN()
		if err != nil {
			return err
		}
		vxlan = link.Attrs().Index
	} else if err := d.deleteVXLAN(); err != nil {
		return err
	}
	lo, err := d.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := d.syncRoutes(p.Routes, vxlan, lo.Attrs().Index); err != nil {
		return err
	}
	if vxlan != 0 {
		return d.syncPeers(p.Peers, vxlan)
	}
	return nil
}

// ensureVXLAN creates the VXLAN device or repairs it: learning off (the entries come from
// the Nodes), local address the node's, on the device holding it, MTU that device's less the
// VXLAN overhead, the stable MAC, and the pod range's network address /32.
func (d *dataplane) ensureVXLAN() (netlink.Link, error) {
	parent, err := d.linkWithAddr(d.cfg.NodeIP)
	if err != nil {
		return nil, err
	}
	mtu := parent.Attrs().MTU - vxlanOverhead
	mac := vtepMAC(d.cfg.NodeIP)
	link, err := d.h.LinkByName(VXLANDevice)
	if err == nil {
		vx, ok := link.(*netlink.Vxlan)
		if !ok || vx.VxlanId != vni || vx.Port != d.cfg.VXLANPort || vx.VtepDevIndex != parent.Attrs().Index ||
			!net.IP.Equal(vx.SrcAddr, d.cfg.NodeIP.AsSlice()) || vx.Learning {
			d.log.Info("re-creating the VXLAN device with new settings", "device", VXLANDevice)
			if err := d.h.LinkDel(link); err != nil {
				return nil, fmt.Errorf("delete %s: %w", VXLANDevice, err)
			}
			link = nil
		}
	} else {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("find %s: %w", VXLANDevice, err)
		}
		link = nil
	}
	if link == nil {
		vx := &netlink.Vxlan{
			LinkAttrs:    netlink.LinkAttrs{Name: VXLANDevice, MTU: mtu, HardwareAddr: mac},
			VxlanId:      vni,
			VtepDevIndex: parent.Attrs().Index,
			SrcAddr:      d.cfg.NodeIP.AsSlice(),
			Port:         d.cfg.VXLANPort,
			Learning:     false,
		}
		if err := d.h.LinkAdd(vx); err != nil {
			return nil, fmt.Errorf("create %s: %w", VXLANDevice, err)
		}
		if link, err = d.h.LinkByName(VXLANDevice); err != nil {
			return nil, fmt.Errorf("find %s: %w", VXLANDevice, err)
		}
		d.log.Info("created the VXLAN device", "device", VXLANDevice, "mtu", mtu, "mac", mac)
	}
	if link.Attrs().MTU != mtu {
		if err := d.h.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("set MTU of %s to %d: %w", VXLANDevice, mtu, err)
		}
	}
	if link.Attrs().HardwareAddr.String() != mac.String() {
		if err := d.h.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, fmt.Errorf("set MAC of %s to %s: %w", VXLANDevice, mac, err)
		}
	}
	if err := d.syncAddr(link, netip.PrefixFrom(vtepAddr(d.cfg.PodCIDR), 32)); err != nil {
		return nil, err
	}
	if err := d.h.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", VXLANDevice, err)
	}
	return link, nil
}

// syncAddr leaves want as link's only IPv4 address.
func (d *dataplane) syncAddr(link netlink.Link, want netip.Prefix) error {
	addrs, err := d.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", VXLANDevice, err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p != want {
			if err := d.h.AddrDel(link, &a); err != nil {
				return fmt.Errorf("remove %s from %s: %w", p, VXLANDevice, err)
			}
		}
	}
	if err := d.h.AddrReplace(link, &netlink.Addr{IPNet: ipNet(want)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", want, VXLANDevice, err)
	}
	return nil
}

func (d *dataplane) deleteVXLAN() error {
	link, err := d.h.LinkByName(VXLANDevice)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", VXLANDevice, err)
	}
	if err := d.h.LinkDel(link); err != nil {
		return fmt.Errorf("delete %s: %w", VXLANDevice, err)
	}
	return nil
}

// linkWithAddr is the device holding addr.
func (d *dataplane) linkWithAddr(addr netip.Addr) (netlink.Link, error) {
	addrs, err := d.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			link, err := d.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("device of %s: %w", addr, err)
			}
			return link, nil
		}
	}
	return nil, fmt.Errorf("no device holds the node IP %s", addr)
}

// syncRoutes makes our routes (those of RouteProtocol in the main table)
// exactly want: stale ones are deleted, missing or different ones replaced.
func (d *dataplane) syncRoutes(want []route, vxlan, lo int) error {
	have, err := ourRoutes(d.h)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, r := range want {
		wanted[routeKey(toNetlink(r, vxlan, lo))] = true
	}
	var errs []error
	// Stale routes go first: a route to the same range with a new next hop replaces one of them.
	for _, h := range have {
		if wanted[routeKey(h)] {
			continue
		}
		if err := d.h.RouteDel(&h); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", h, err))
			continue
		}
		d.log.Info("route removed", "dst", h.Dst, "via", h.Gw)
	}
	for _, r := range want {
		nr := toNetlink(r, vxlan, lo)
		if slices.ContainsFunc(have, func(h netlink.Route) bool { return routeKey(h) == routeKey(nr) }) {
			continue
		}
		if err := d.h.RouteReplace(&nr); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
			continue
		}
		d.log.Info("route added", "route", r.String())
	}
	return errors.Join(errs...)
}

// toNetlink is r as the kernel's route.
func toNetlink(r route, vxlan, lo int) netlink.Route {
	nr := netlink.Route{Dst: ipNet(r.Dst), Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST}
	switch r.Kind {
	case viaNode:
		nr.Gw = r.Via.AsSlice()
	case viaVTEP:
		nr.Gw, nr.LinkIndex, nr.Flags = r.Via.AsSlice(), vxlan, int(netlink.FLAG_ONLINK)
	case blackhole:
		nr.Type = unix.RTN_BLACKHOLE
	case discard:
		nr.LinkIndex, nr.Src, nr.Scope = lo, r.Src.AsSlice(), netlink.SCOPE_LINK
	}
	return nr
}

// routeKey identifies a route for comparison: what it covers and where it sends packets.
func routeKey(r netlink.Route) string {
	return fmt.Sprintf("%s|%d|%d|%s|%s", r.Dst, r.Table, r.Type, r.Gw, r.Src)
}

// ourRoutes lists the routes of RouteProtocol in the main table.
func ourRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return routes, nil
}

// syncPeers makes the VXLAN device's neighbor (VTEP address → MAC) and FDB (MAC → node IP)
// entries exactly those of peers.
func (d *dataplane) syncPeers(peers []peer, vxlan int) error {
	var errs []error
	neighbors, err := d.h.NeighList(vxlan, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("neighbors of %s: %w", VXLANDevice, err)
	}
	for _, n := range neighbors {
		if !slices.ContainsFunc(peers, func(p peer) bool { return n.IP.Equal(p.VTEP.AsSlice()) && n.HardwareAddr.String() == p.MAC.String() }) {
			if err := d.h.NeighDel(&n); err != nil {
				errs = append(errs, fmt.Errorf("delete neighbor %s: %w", n.IP, err))
			}
		}
	}
	fdb, err := d.h.NeighList(vxlan, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("FDB of %s: %w", VXLANDevice, err)
	}
	for _, n := range fdb {
		if !slices.ContainsFunc(peers, func(p peer) bool { return n.IP.Equal(p.NodeIP.AsSlice()) && n.HardwareAddr.String() == p.MAC.String() }) {
			if err := d.h.NeighDel(&n); err != nil {
				errs = append(errs, fmt.Errorf("delete FDB entry %s: %w", n.HardwareAddr, err))
			}
		}
	}
	for _, p := range peers {
		arp := netlink.Neigh{LinkIndex: vxlan, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST,
			IP: p.VTEP.AsSlice(), HardwareAddr: p.MAC}
		if err := d.h.NeighSet(&arp); err != nil {
			errs = append(errs, fmt.Errorf("neighbor %s of node %s: %w", p.VTEP, p.Node, err))
		}
		fdbEntry := netlink.Neigh{LinkIndex: vxlan, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
			IP: p.NodeIP.AsSlice(), HardwareAddr: p.MAC}
		if err := d.h.NeighSet(&fdbEntry); err != nil {
			errs = append(errs, fmt.Errorf("FDB entry %s of node %s: %w", p.MAC, p.Node, err))
		}
	}
	return errors.Join(errs...)
}

// remove deletes our routes and the VXLAN device (and with it its entries).
func remove(h *netlink.Handle) error {
	routes, err := ourRoutes(h)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r, err))
		}
	}
	d := dataplane{h: h}
	return errors.Join(append(errs, d.deleteVXLAN())...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}
