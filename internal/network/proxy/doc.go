// Package proxy is the node's service proxy: it turns the cluster's Services and
// EndpointSlices into one nftables table (ip family, "gantry" by default) that the agent owns,
// in the layout kube-proxy's nftables mode proved, simplified.
//
// # What it does
//
//   - ClusterIP (TCP, UDP, SCTP): new connections are translated at random to one of the
//     service port's ready endpoints; when none is ready, to the endpoints that are still
//     serving while they terminate. Named target ports need nothing: slices carry the numbers.
//   - NodePort on every local address of the node (fib daddr type local) except 127.0.0.0/8
//     (that would need route_localnet, see baseTable); spec.externalIPs; and the IPs of
//     status.loadBalancer.ingress (ipMode VIP) on the service port.
//   - sessionAffinity ClientIP: per-endpoint sets with the service's timeout remember which
//     client went where.
//   - externalTrafficPolicy Local: NodePort, externalIP and load-balancer traffic goes only
//     to this node's endpoints and keeps the client's address; with none it is dropped. Pods
//     and the node itself are exempt (they go cluster-wide), as in kube-proxy. Cluster:
//     external traffic is masqueraded. internalTrafficPolicy Local does the same for the
//     cluster IP (dropped without a local endpoint).
//   - A destination whose service has no usable endpoint is rejected at once (TCP reset,
//     ICMP port unreachable otherwise) instead of timing out.
//   - Masquerading: clients outside the pod network reaching a cluster IP, hairpin traffic
//     (a pod reaching itself through its service), and pod egress leaving the cluster
//     (source in ClusterCIDR, destination outside ClusterCIDR and ServiceCIDR). The CNI
//     bridge plugin's ipMasq is meant to be off: this table owns it.
//   - Headless and ExternalName services, services labelled with
//     service.kubernetes.io/service-proxy-name, and Config.NodeLocal addresses get no rules.
//
// # How
//
// The rules are computed in pure code: computeService maps one Service and its slices to
// the chains, affinity sets and shared-map elements it needs (rules.go), and tableState.plan
// diffs that against what the table holds and writes the nft commands for the difference
// (plan.go). A thin layer runs them as one atomic `nft -f -` transaction (nft.go). So an
// endpoint change rewrites one chain; a service added or removed adds or deletes a few map
// elements. Syncs are batched: at most one per 100 ms, the first after a quiet moment
// immediately. The first sync, any sync after a failure, and a sync after someone deleted
// the table (checked every 5 s) replace the whole table in one transaction. Stale chains
// are deleted a second after they were flushed (kernels before 6.2 hold a map element's
// reference a moment).
//
// The test topology (proxier_linux_test.go) shows what a node needs besides this table:
// net.ipv4.ip_forward, bridge-nf-call-iptables (bridged replies between pods of one node
// must pass conntrack) and hairpin mode on the bridge ports (with br_netfilter, a pod's
// packet translated back to that pod leaves by the port it came in by).
//
// # Limits
//
// IPv4 only: the family and address types are spelled out in table.go and rules.go, so an
// ip6 (or inet) table is a second family parameter away, not a redesign. Not done: UDP
// conntrack entries are not cleared when endpoints change (a UDP flow keeps its old
// translation until it idles out), loadBalancerSourceRanges, topology-aware routing,
// NodePorts on 127.0.0.1, and ClientIP affinity memory does not survive a full sync (an
// agent restart); established connections always do (conntrack).
package proxy
