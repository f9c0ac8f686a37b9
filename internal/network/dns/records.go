package dns

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// service is the part of a Service that DNS answers from.
type service struct {
	clusterIPs      []netip.Addr
	headless        bool
	externalName    string // fully qualified, lower case; empty unless type ExternalName
	ports           []port
	publishNotReady bool
}

// endpointSlice is the part of an EndpointSlice that DNS answers from.
type endpointSlice struct {
	service   string
	ports     []port
	endpoints []endpoint
}

type port struct {
	name  string // lower case; empty for an unnamed port
	proto string // lower case: tcp, udp, sctp
	port  uint16
}

type endpoint struct {
	addrs    []netip.Addr
	hostname string // lower case; empty unless set on the endpoint
	ready    bool
}

func slimService(s *corev1.Service) *service {
	out := &service{publishNotReady: s.Spec.PublishNotReadyAddresses}
	switch {
	case s.Spec.Type == corev1.ServiceTypeExternalName:
		out.externalName = fqdn(s.Spec.ExternalName)
	case s.Spec.ClusterIP == corev1.ClusterIPNone:
		out.headless = true
	default:
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				out.clusterIPs = append(out.clusterIPs, a.Unmap())
			}
		}
	}
	for _, p := range s.Spec.Ports {
		out.ports = append(out.ports, port{
			name:  strings.ToLower(p.Name),
			proto: strings.ToLower(string(p.Protocol)),
			port:  uint16(p.Port),
		})
	}
	return out
}

func slimSlice(es *discoveryv1.EndpointSlice) *endpointSlice {
	out := &endpointSlice{service: es.Labels[discoveryv1.LabelServiceName]}
	if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
		return out // FQDN slices carry no addresses DNS could answer with
	}
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		out.ports = append(out.ports, port{name: strings.ToLower(name), proto: strings.ToLower(proto), port: uint16(*p.Port)})
	}
	for _, ep := range es.Endpoints {
		e := endpoint{
			// The API defines an unset condition as ready.
			ready: ep.Conditions.Ready == nil || *ep.Conditions.Ready,
		}
		if ep.Hostname != nil {
			e.hostname = strings.ToLower(*ep.Hostname)
		}
		for _, ip := range ep.Addresses {
			if a, err := netip.ParseAddr(ip); err == nil {
				e.addrs = append(e.addrs, a.Unmap())
			}
		}
		out.endpoints = append(out.endpoints, e)
	}
	return out
}

// buildRecords computes the names one Service contributes to zone, following the Kubernetes
// DNS specification as CoreDNS's kubernetes plugin answers it.
func buildRecords(zone string, k key, svc *service, eps map[string]*endpointSlice) *records {
	r := &records{names: map[string]*entry{}, ptrs: map[netip.Addr][]string{}}
	base := strings.ToLower(k.name + "." + k.ns + ".svc." + zone)
	switch {
	case svc.externalName != "":
		r.names[base] = &entry{target: svc.externalName}
	case svc.headless:
		buildHeadless(r, base, svc, eps)
	default:
		buildClusterIP(r, base, svc)
	}
	for _, e := range r.names {
		e.addrs = sortAddrs(e.addrs)
		e.srvs = sortSRV(e.srvs)
	}
	for a := range r.ptrs {
		ptrs := r.ptrs[a]
		sortUnique(&ptrs)
		r.ptrs[a] = ptrs
	}
	return r
}

// buildClusterIP: the Service name answers its cluster IPs; each port an SRV record targeting
// the Service name; every cluster IP reverses to the Service name.
func buildClusterIP(r *records, base string, svc *service) {
	e := &entry{addrs: slices.Clone(svc.clusterIPs)}
	r.names[base] = e
	for _, p := range svc.ports {
		s := srv{port: p.port, target: base, addrs: slices.Clone(svc.clusterIPs)}
		e.srvs = append(e.srvs, s)
		if p.name != "" {
			r.names[srvName(p, base)] = &entry{addrs: slices.Clone(svc.clusterIPs), srvs: []srv{s}}
		}
	}
	for _, a := range svc.clusterIPs {
		r.ptrs[a] = append(r.ptrs[a], base)
	}
}

// buildHeadless: the Service name answers every ready endpoint address; each endpoint has a
// name of its own (its hostname, or its address with dashes); each port of each endpoint is
// an SRV record targeting the endpoint's name. A headless Service without ready endpoints
// has no names at all (NXDOMAIN), as the specification says.
func buildHeadless(r *records, base string, svc *service, eps map[string]*endpointSlice) {
	e := &entry{shuffle: true}
	// An endpoint of two families (one slice each) has one name and one SRV record per port,
	// with both addresses: collect SRV records by target and port before sharing them out.
	type srvKey struct {
		target string
		port   port
	}
	srvs := map[srvKey]*srv{}
	for _, sl := range eps {
		for _, ep := range sl.endpoints {
			if !ep.ready && !svc.publishNotReady {
				continue
			}
			for _, a := range ep.addrs {
				name := ep.hostname
				if name == "" {
					name = dashed(a)
				}
				name += "." + base
				e.addrs = append(e.addrs, a)
				if r.names[name] == nil {
					r.names[name] = &entry{}
				}
				r.names[name].addrs = append(r.names[name].addrs, a)
				r.ptrs[a] = append(r.ptrs[a], name)
				for _, p := range sl.ports {
					k := srvKey{target: name, port: p}
					if srvs[k] == nil {
						srvs[k] = &srv{port: p.port, target: name}
					}
					srvs[k].addrs = append(srvs[k].addrs, a)
				}
			}
		}
	}
	if len(e.addrs) == 0 {
		return
	}
	r.names[base] = e
	for k, s := range srvs {
		s.addrs = sortAddrs(s.addrs)
		e.srvs = append(e.srvs, *s)
		if k.port.name == "" {
			continue
		}
		name := srvName(k.port, base)
		if r.names[name] == nil {
			r.names[name] = &entry{shuffle: true}
		}
		r.names[name].addrs = append(r.names[name].addrs, s.addrs...)
		r.names[name].srvs = append(r.names[name].srvs, *s)
	}
}

func srvName(p port, base string) string {
	return "_" + p.name + "._" + p.proto + "." + base
}

// dashed is an address as a DNS label: 10.0.0.1 → 10-0-0-1, fd00::1 → fd00--1.
func dashed(a netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(a.String())
}

// fqdn lower-cases name and makes it absolute.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// sortAddrs sorts and deduplicates addrs in place: a stable order keeps answers and tests
// deterministic.
func sortAddrs(addrs []netip.Addr) []netip.Addr {
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(addrs)
}

func sortSRV(srvs []srv) []srv {
	slices.SortFunc(srvs, func(a, b srv) int {
		if c := strings.Compare(a.target, b.target); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return slices.CompactFunc(srvs, func(a, b srv) bool { return a.target == b.target && a.port == b.port })
}

func sortUnique(s *[]string) {
	slices.Sort(*s)
	*s = slices.Compact(*s)
}
