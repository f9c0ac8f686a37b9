package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// serviceProxyNameLabel marks a Service handled by another proxy; like kube-proxy, we leave it alone.
const serviceProxyNameLabel = "service.kubernetes.io/service-proxy-name"

// defaultAffinitySeconds is the API's default sessionAffinityConfig.clientIP.timeoutSeconds.
const defaultAffinitySeconds = 10800

// serviceRules is everything one Service contributes to the table: its own regular chains and
// affinity sets, and its elements of the shared maps. It is what the planner diffs.
type serviceRules struct {
	chains   map[string][]string // chain name → its rules, in order
	sets     map[string]string   // affinity set name → its declaration
	elements []element           // entries of the shared maps and sets
}

// element is one entry of a shared map (value is its verdict) or set (value is empty).
type element struct {
	set, key, value string
}

func (r *serviceRules) empty() bool {
	return len(r.chains) == 0 && len(r.sets) == 0 && len(r.elements) == 0
}

// computeService returns the rules of one Service given its EndpointSlices. It is pure: the
// same inputs give the same rules, byte for byte. Services that get no rules (headless,
// ExternalName, another proxy's, no IPv4 address) give empty rules.
func computeService(cfg *Config, svc *v1.Service, slices []*discovery.EndpointSlice) *serviceRules {
	r := &serviceRules{chains: map[string][]string{}, sets: map[string]string{}}
	if svc == nil || svc.Spec.Type == v1.ServiceTypeExternalName || svc.Labels[serviceProxyNameLabel] != "" {
		return r
	}
	clusterIP := firstIPv4(svc.Spec.ClusterIPs)
	if !clusterIP.IsValid() {
		clusterIP = firstIPv4([]string{svc.Spec.ClusterIP}) // objects written without clusterIPs
	}
	if !clusterIP.IsValid() {
		return r // headless (None) or IPv6 only
	}
	if cfg.isNodeLocal(clusterIP) {
		clusterIP = netip.Addr{}
	}
	external := externalIPs(svc)
	for i := range svc.Spec.Ports {
		r.addPort(cfg, svc, &svc.Spec.Ports[i], clusterIP, external, slices)
	}
	return r
}

// addPort writes the rules of one service port. The layout follows kube-proxy's nftables mode:
//
//	service-ID   cluster-wide endpoints (masquerading clients from outside the pod network)
//	local-ID     this node's endpoints, for the Local traffic policies (no masquerade)
//	external-ID  NodePort, externalIP and load-balancer traffic: masquerade, or for
//	             externalTrafficPolicy Local, keep the client's address and go local
//	endpoint-ID__IP/PORT  one endpoint, only with ClientIP affinity
//
// Destinations reach these chains through the shared service-ips and service-nodeports maps;
// destinations without a usable endpoint go to the no-endpoint maps, which reject or drop.
func (r *serviceRules) addPort(cfg *Config, svc *v1.Service, port *v1.ServicePort, clusterIP netip.Addr, external []netip.Addr, slices []*discovery.EndpointSlice) {
	proto, ok := l4proto(port.Protocol)
	if !ok {
		return
	}
	id := portID(svc, port)
	eps := endpointsFor(cfg, slices, port.Name, port.Protocol)
	cluster, local := usable(eps, false), usable(eps, true)
	hasEndpoints := len(cluster) > 0
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	externalLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	affinity := 0
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = defaultAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = int(*c.ClientIP.TimeoutSeconds)
		}
	}

	serviceChain, localChain, externalChain := "service-"+id, "local-"+id, "external-"+id
	externallyAccessible := len(external) > 0 || port.NodePort != 0
	// The cluster-wide chain serves the cluster IP unless internalTrafficPolicy is Local, and
	// external traffic always (directly, or for pods and the node under the Local policy).
	if hasEndpoints && (!internalLocal || externallyAccessible) {
		r.dispatch(cfg, serviceChain, id, proto, cluster, affinity, true)
	}
	usesLocal := len(local) > 0 && (internalLocal || externalLocal)
	if usesLocal {
		r.dispatch(cfg, localChain, id, proto, local, affinity, false)
	}
	// A pod whose connection to its own service comes back to itself needs a source that is
	// not its own address, or it would answer itself directly. Only this node's endpoints
	// can be reached that way.
	reachable := cluster
	if internalLocal || externalLocal {
		reachable = append(append([]endpoint(nil), cluster...), local...)
	}
	hairpin := map[netip.AddrPort]bool{}
	for _, e := range reachable {
		if e.local && !hairpin[e.addr] {
			hairpin[e.addr] = true
			a := e.addr.Addr().String()
			r.elements = append(r.elements, element{set: setHairpin, key: fmt.Sprintf("%s . %s . %s . %d", a, a, proto, e.addr.Port())})
		}
	}

	// Cluster IP.
	if clusterIP.IsValid() {
		key := fmt.Sprintf("%s . %s . %d", clusterIP, proto, port.Port)
		switch {
		case !hasEndpoints:
			r.elements = append(r.elements, element{mapNoEndpointServices, key, "goto " + chainReject})
		case internalLocal && len(local) == 0:
			r.elements = append(r.elements, element{mapNoEndpointServices, key, "drop"})
		case internalLocal:
			r.elements = append(r.elements, element{mapServiceIPs, key, "goto " + localChain})
		default:
			r.elements = append(r.elements, element{mapServiceIPs, key, "goto " + serviceChain})
		}
	}

	// NodePort, externalIPs and load-balancer ingress.
	if !externallyAccessible {
		return
	}
	if hasEndpoints {
		var rules []string
		if !externalLocal {
			rules = []string{"jump " + chainMarkForMasquerade, "goto " + serviceChain}
		} else {
			// Pods and the node itself are not subject to the Local policy (as if they had
			// gone out to a load balancer and come back); the node's own traffic needs
			// masquerading because its source is one of the service's local addresses.
			rules = []string{
				fmt.Sprintf("ip saddr %s goto %s", cfg.ClusterCIDR, serviceChain),
				"fib saddr type local jump " + chainMarkForMasquerade,
				"fib saddr type local goto " + serviceChain,
			}
			if len(local) > 0 {
				rules = append(rules, "goto "+localChain)
			}
		}
		r.chains[externalChain] = rules
	}
	// What external traffic gets when it cannot be served: reject if the service has no
	// endpoint at all; drop under the Local policy without a local endpoint, after the
	// short-circuits above had their chance (traffic they took was already translated).
	noEndpoint := ""
	switch {
	case !hasEndpoints:
		noEndpoint = "goto " + chainReject
	case externalLocal && len(local) == 0:
		noEndpoint = "drop"
	}
	for _, ip := range external {
		key := fmt.Sprintf("%s . %s . %d", ip, proto, port.Port)
		if hasEndpoints {
			r.elements = append(r.elements, element{mapServiceIPs, key, "goto " + externalChain})
		}
		if noEndpoint != "" {
			r.elements = append(r.elements, element{mapNoEndpointServices, key, noEndpoint})
		}
	}
	if port.NodePort != 0 {
		key := fmt.Sprintf("%s . %d", proto, port.NodePort)
		if hasEndpoints {
			r.elements = append(r.elements, element{mapServiceNodePorts, key, "goto " + externalChain})
		}
		if noEndpoint != "" {
			r.elements = append(r.elements, element{mapNoEndpointNodePorts, key, noEndpoint})
		}
	}
}

// dispatch writes a chain that picks one of eps at random and translates to it. With
// affinity, a client seen recently goes back to the endpoint it had, through per-endpoint
// chains that remember the client in a set with a timeout.
func (r *serviceRules) dispatch(cfg *Config, chain, id, proto string, eps []endpoint, affinity int, masquerade bool) {
	var rules []string
	if masquerade {
		rules = append(rules, fmt.Sprintf("ip saddr != %s jump %s", cfg.ClusterCIDR, chainMarkForMasquerade))
	}
	switch {
	case affinity > 0:
		var picks []string
		for i, e := range eps {
			epChain := "endpoint-" + id + "__" + addrName(e.addr)
			set := "affinity-" + strconv.Itoa(affinity) + "-" + id + "__" + addrName(e.addr)
			rules = append(rules, fmt.Sprintf("ip saddr @%s goto %s", set, epChain))
			picks = append(picks, fmt.Sprintf("%d : goto %s", i, epChain))
			r.sets[set] = fmt.Sprintf("{ type ipv4_addr; flags dynamic,timeout; timeout %ds; }", affinity)
			r.chains[epChain] = []string{
				fmt.Sprintf("update @%s { ip saddr }", set),
				fmt.Sprintf("meta l4proto %s dnat to %s", proto, e.addr),
			}
		}
		rules = append(rules, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(picks, ", ")))
	case len(eps) == 1:
		rules = append(rules, fmt.Sprintf("meta l4proto %s dnat to %s", proto, eps[0].addr))
	default:
		var picks []string
		for i, e := range eps {
			picks = append(picks, fmt.Sprintf("%d : %s . %d", i, e.addr.Addr(), e.addr.Port()))
		}
		rules = append(rules, fmt.Sprintf("meta l4proto %s dnat ip addr . port to numgen random mod %d map { %s }", proto, len(eps), strings.Join(picks, ", ")))
	}
	r.chains[chain] = rules
}

// portID names a service port in chain and set names: namespace/name/protocol/port, the port
// being its name, or its number when it has none (then it is the only port).
func portID(svc *v1.Service, port *v1.ServicePort) string {
	name := port.Name
	if name == "" {
		name = strconv.Itoa(int(port.Port))
	}
	proto, _ := l4proto(port.Protocol)
	return svc.Namespace + "/" + svc.Name + "/" + proto + "/" + name
}

// addrName writes an endpoint address for a chain or set name (nft names allow '/', not ':').
func addrName(a netip.AddrPort) string {
	return a.Addr().String() + "/" + strconv.Itoa(int(a.Port()))
}

func l4proto(p v1.Protocol) (string, bool) {
	switch p {
	case v1.ProtocolTCP, "":
		return "tcp", true
	case v1.ProtocolUDP:
		return "udp", true
	case v1.ProtocolSCTP:
		return "sctp", true
	}
	return "", false
}

// externalIPs returns the IPv4 addresses besides the cluster IP that the service answers on:
// spec.externalIPs, and for LoadBalancer services the ingress IPs whose traffic reaches the
// node with the VIP as destination (ipMode VIP, the default; Proxy-mode balancers rewrite it).
func externalIPs(svc *v1.Service) []netip.Addr {
	ips := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(s string) {
		ip, err := netip.ParseAddr(s)
		if err == nil && ip.Is4() && !ips[ip] {
			ips[ip] = true
			out = append(out, ip)
		}
	}
	for _, s := range svc.Spec.ExternalIPs {
		add(s)
	}
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IPMode == nil || *ing.IPMode == v1.LoadBalancerIPModeVIP {
				add(ing.IP)
			}
		}
	}
	return out
}

func firstIPv4(ss []string) netip.Addr {
	for _, s := range ss {
		if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
			return ip
		}
	}
	return netip.Addr{}
}
