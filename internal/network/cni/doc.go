// Package cni configures a node's pod network for the standard CNI plugins (Debian's
// containernetworking-plugins, in /usr/lib/cni), which containerd's CRI plugin runs for every
// pod sandbox.
//
// The network is one Linux bridge per node (gantry0) holding the first address of the node's
// pod CIDR as the pods' gateway. WriteConfig writes the one conflist containerd reads:
//
//   - bridge: a veth pair per pod on the bridge; isGateway so the node routes to its pods
//     directly; ipMasq so pods reach beyond the cluster with the node's address (off with
//     Config.DisableIPMasq when the service proxy's nftables table masquerades); hairpinMode so
//     a pod reaching itself through a Service address gets its packets back;
//   - host-local IPAM over the pod CIDR with a default route through the gateway, its leases
//     kept under Config.IPAMDataDir so that clusters and tests on one machine never share them;
//   - portmap for hostPort, with snat so a pod can use its own node's hostPort.
//
// Loopback is not in the list: containerd brings lo up in every sandbox itself. The spec
// version is 1.0.0, which both containerd 1.6 and the 1.1.1 plugins speak. containerd watches
// the directory, so the file is replaced atomically.
//
// EnableForwarding sets the sysctls a node needs (net.ipv4.ip_forward, and
// net.bridge.bridge-nf-call-iptables where br_netfilter is loaded).
package cni
