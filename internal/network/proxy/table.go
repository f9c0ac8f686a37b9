package proxy

import (
	"fmt"
	"strings"
)

// The table's fixed objects. Everything else belongs to one service (see rules.go).
const (
	mapServiceIPs          = "service-ips"           // ip . proto . port → chain of the service
	mapServiceNodePorts    = "service-nodeports"     // proto . port → external chain
	mapNoEndpointServices  = "no-endpoint-services"  // ip . proto . port → reject or drop
	mapNoEndpointNodePorts = "no-endpoint-nodeports" // proto . port → reject or drop
	setHairpin             = "hairpin"               // endpoint . endpoint . proto . port of local endpoints

	chainReject            = "reject-chain"
	chainMarkForMasquerade = "mark-for-masquerade"

	// masqueradeMark is the packet mark bit meaning "masquerade in postrouting", as kube-proxy's.
	masqueradeMark = "0x4000"
)

// baseTable returns the script that replaces the whole table with its fixed part: base
// chains hooked into netfilter, the dispatch maps (empty) and the helper chains. Deleting
// and re-adding the table in the same transaction makes a full sync exact and atomic: no
// leftover of a previous run, and no moment without rules.
//
// Hooks: DNAT happens in prerouting (traffic from pods and outside) and output (the node's
// own traffic); masquerading in postrouting. Destinations without endpoints are rejected
// in the filter hooks, since reject is not allowed in nat chains; only new connections are
// looked at. NodePorts are served on every local address of the node (fib daddr type local),
// except 127.0.0.0/8: after DNAT a packet from 127.0.0.1 is martian unless route_localnet is
// on, which exposes localhost services to the network (CVE-2020-8558), so as kube-proxy's
// nftables mode we leave it off.
func baseTable(cfg *Config) string {
	var b strings.Builder
	t := cfg.Table
	fmt.Fprintf(&b, "add table ip %s\ndelete table ip %s\n", t, t)
	fmt.Fprintf(&b, "table ip %s {\n", t)
	fmt.Fprintf(&b, "\tcomment \"gantry service proxy: services, NodePorts and pod masquerading; managed by the gantry agent\"\n")
	fmt.Fprintf(&b, "\tmap %s { type ipv4_addr . inet_proto . inet_service : verdict; }\n", mapServiceIPs)
	fmt.Fprintf(&b, "\tmap %s { type inet_proto . inet_service : verdict; }\n", mapServiceNodePorts)
	fmt.Fprintf(&b, "\tmap %s { type ipv4_addr . inet_proto . inet_service : verdict; }\n", mapNoEndpointServices)
	fmt.Fprintf(&b, "\tmap %s { type inet_proto . inet_service : verdict; }\n", mapNoEndpointNodePorts)
	fmt.Fprintf(&b, "\tset %s { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }\n", setHairpin)

	chain := func(name string, rules ...string) {
		fmt.Fprintf(&b, "\tchain %s {\n", name)
		for _, r := range rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	chain(chainReject, "meta l4proto tcp reject with tcp reset", "reject")
	chain("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @"+mapNoEndpointServices)
	chain("nodeport-endpoints-check", "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @"+mapNoEndpointNodePorts)
	chain("services",
		"ip daddr . meta l4proto . th dport vmap @"+mapServiceIPs,
		"fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @"+mapServiceNodePorts)
	chain(chainMarkForMasquerade, "meta mark set meta mark or "+masqueradeMark)
	chain("masquerading",
		fmt.Sprintf("meta mark & %s != 0 meta mark set meta mark xor %s masquerade fully-random", masqueradeMark, masqueradeMark),
		fmt.Sprintf("ct status dnat ip saddr . ip daddr . meta l4proto . th dport @%s masquerade fully-random", setHairpin),
		// Pod egress leaving the cluster: the node's address replaces the pod's.
		fmt.Sprintf("ip saddr %s ip daddr != { %s, %s } masquerade", cfg.ClusterCIDR, cfg.ClusterCIDR, cfg.ServiceCIDR))

	// A packet still addressed to the service range after DNAT is for no service: it is
	// refused here, so service addresses never leave the node (in place of a blackhole
	// route, which would fail the node's own connections before they are translated).
	unallocated := "ip daddr " + cfg.ServiceCIDR.String()
	if len(cfg.NodeLocal) > 0 {
		local := make([]string, len(cfg.NodeLocal))
		for i, ip := range cfg.NodeLocal {
			local[i] = ip.String()
		}
		unallocated += " ip daddr != { " + strings.Join(local, ", ") + " }"
	}
	chain("unallocated-service-ips", unallocated+" jump "+chainReject)

	chain("filter-input", "type filter hook input priority filter; policy accept;",
		"ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check")
	chain("filter-forward", "type filter hook forward priority filter; policy accept;",
		"ct state new jump service-endpoints-check", "jump unallocated-service-ips")
	chain("filter-output", "type filter hook output priority filter; policy accept;",
		"ct state new jump service-endpoints-check", "jump unallocated-service-ips")
	chain("nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;", "jump services")
	// nft 1.0.6 knows the name dstnat only in prerouting; -100 is its value.
	chain("nat-output", "type nat hook output priority -100; policy accept;", "jump services")
	chain("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", "jump masquerading")
	b.WriteString("}\n")
	return b.String()
}
