package proxy

import (
	"cmp"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// endpoint is one backend address of a service port, as read from an EndpointSlice.
type endpoint struct {
	addr        netip.AddrPort
	ready       bool
	serving     bool
	terminating bool
	local       bool // on this node (the endpoint's nodeName is Config.NodeName)
}

// endpointsFor returns the IPv4 endpoints the slices give for the service port with this name
// and protocol, sorted by address and without duplicates (during a rollout two slices may
// briefly list the same address; the slice first by name wins). Named target ports need no
// work here: the EndpointSlice controller resolves them per pod and writes the number into
// the slice's port of the same name as the service port.
func endpointsFor(cfg *Config, epSlices []*discovery.EndpointSlice, portName string, protocol v1.Protocol) []endpoint {
	var eps []endpoint
	seen := map[netip.AddrPort]bool{}
	for _, slice := range sortedByName(epSlices) {
		if slice.AddressType != discovery.AddressTypeIPv4 {
			continue
		}
		port, ok := slicePort(slice, portName, protocol)
		if !ok {
			continue
		}
		for _, e := range slice.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			// Like kube-proxy, only the first address counts: the API says the others are
			// interchangeable and consumers may use just the first.
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			addr := netip.AddrPortFrom(ip, port)
			if seen[addr] {
				continue
			}
			seen[addr] = true
			// Unset conditions mean ready, serving when ready, not terminating (the API's rules).
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			eps = append(eps, endpoint{
				addr:        addr,
				ready:       ready,
				serving:     serving,
				terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
				local:       e.NodeName != nil && *e.NodeName == cfg.NodeName,
			})
		}
	}
	slices.SortFunc(eps, func(a, b endpoint) int { return a.addr.Compare(b.addr) })
	return eps
}

// slicePort finds the slice's port for a service port.
func slicePort(slice *discovery.EndpointSlice, name string, protocol v1.Protocol) (uint16, bool) {
	for _, p := range slice.Ports {
		pName := ""
		if p.Name != nil {
			pName = *p.Name
		}
		pProto := v1.ProtocolTCP
		if p.Protocol != nil {
			pProto = *p.Protocol
		}
		if pName == name && pProto == protocol && p.Port != nil && *p.Port > 0 && *p.Port < 65536 {
			return uint16(*p.Port), true
		}
	}
	return 0, false
}

// usable picks the endpoints traffic may go to, as kube-proxy does: the ready ones, or, when
// none is ready, the ones still serving while they terminate, so that a rolling update
// of the last pods does not drop connections. With onlyLocal, only this node's endpoints count.
func usable(eps []endpoint, onlyLocal bool) []endpoint {
	var ready, terminating []endpoint
	for _, e := range eps {
		if onlyLocal && !e.local {
			continue
		}
		switch {
		case e.ready:
			ready = append(ready, e)
		case e.serving && e.terminating:
			terminating = append(terminating, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

func sortedByName(s []*discovery.EndpointSlice) []*discovery.EndpointSlice {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b *discovery.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	return s
}
