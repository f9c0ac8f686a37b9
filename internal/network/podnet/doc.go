// Package podnet connects the pod ranges of a cluster's nodes: the agent runs a Network
// that keeps this node's routes to every other node's pods in line with the Node objects
// (spec.podCIDR, given by the nodeipam controller, and the InternalIP).
//
// Two modes, as flannel's backends:
//
//   - host-gw (default): `<podCIDR> via <node IP>` per other node. Nothing is encapsulated,
//     so the nodes must share a layer-2 network.
//   - vxlan: a device gantry.vxlan (VNI 1, UDP 8472, learning off, local address the node
//     IP, MTU its device's less 50) holding the pod range's network address /32, and per
//     other node a permanent neighbor entry (its VTEP address → its VTEP MAC), an FDB entry
//     (MAC → node IP) and `<podCIDR> via <its VTEP address> dev gantry.vxlan onlink`. A node's
//     VTEP MAC is made from its IP (0a:58:<IP>), so it survives restarts, and published in the
//     Node annotation gantry.dev/vtep-mac; a node is routed once its annotation is seen.
//
// Every node also gets a blackhole route for the cluster range, so that a pod address no
// node holds is dropped here instead of following the default route out of the host, and a
// route for the service range to lo: a packet to a Service is translated to an endpoint by
// the service proxy's nftables table before it is routed (or, from this host's own
// processes, routed again after translation), and one to a service address nothing
// translated is refused by that table on its way to lo. A blackhole would not do for the
// service range: the kernel refuses a local connect() to a blackholed address (EINVAL)
// before the output chain can translate it. Neither range ever leaves the host.
//
// Our routes carry the protocol number RouteProtocol (77), so the package only ever changes or
// deletes its own, and each sync deletes those of ours that the Nodes no longer ask for.
// Nodes claiming a range outside the cluster range, overlapping this node's or an older
// node's, are not routed, so no Node object can steer other traffic.
//
// The decision (plan.go: the routes and VXLAN peers wanted, from the Nodes and Config) is
// pure code; dataplane_linux.go applies it over netlink, to the process's network namespace
// or, in tests, to one given by handle. Run syncs on every Node event and every minute, retries
// failures with backoff, and leaves everything in place when it returns, so pods keep talking
// across agent restarts; Remove takes it all away for `gantry uninstall`. Run also turns on
// IP forwarding (cni.EnableForwarding). PodMTU gives the MTU the CNI config should give pods
// (in vxlan mode the tunnel's).
package podnet
