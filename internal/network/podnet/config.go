package podnet

import (
	"fmt"
	"net"
	"net/netip"

	"k8s.io/client-go/kubernetes"
)

const (
	// ModeHostGW routes each node's pod range through that node's address: nodes must share
	// a layer-2 network.
	ModeHostGW = "host-gw"
	// ModeVXLAN carries pod traffic between nodes in VXLAN (UDP), over any IP network.
	ModeVXLAN = "vxlan"

	// DefaultVXLANPort is the Linux kernel's (and flannel's) VXLAN port.
	DefaultVXLANPort = 8472
	// VXLANDevice is the VXLAN interface; VNI 1.
	VXLANDevice = "gantry.vxlan"
	vni         = 1
	// vxlanOverhead is what VXLAN adds to every packet on the parent device (IPv4 20, UDP 8,
	// VXLAN 8, inner Ethernet 14).
	vxlanOverhead = 50

	// AnnotationVTEPMAC is where a node publishes its VXLAN device's MAC address.
	AnnotationVTEPMAC = "gantry.dev/vtep-mac"

	// RouteProtocol marks the routes Gantry makes (`ip route show proto 77`), so that it only
	// ever changes or removes its own. It is not in iproute2's rt_protos.
	RouteProtocol = 77
)

// Config describes this node's part of the pod network.
type Config struct {
	NodeName string
	// NodeIP is this node's InternalIP: the other nodes' next hop (host-gw) or tunnel end
	// (vxlan).
	NodeIP netip.Addr
	// PodCIDR is this node's pod range (the CNI bridge is on it).
	PodCIDR netip.Prefix
	// ClusterCIDR holds every node's pod range; a Node claiming a range outside it is not
	// routed, so no Node object can steer other traffic.
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the range of Service cluster IPs.
	ServiceCIDR netip.Prefix
	// Mode is ModeHostGW (default) or ModeVXLAN.
	Mode string
	// VXLANPort is the UDP port of VXLAN; DefaultVXLANPort if 0.
	VXLANPort int
	// Client patches this Node's AnnotationVTEPMAC in vxlan mode.
	Client kubernetes.Interface
}

// withDefaults fills in the defaults and checks cfg.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeHostGW
	}
	if cfg.VXLANPort == 0 {
		cfg.VXLANPort = DefaultVXLANPort
	}
	switch {
	case cfg.NodeName == "":
		return cfg, fmt.Errorf("pod network: no node name")
	case !cfg.NodeIP.Is4():
		return cfg, fmt.Errorf("pod network: node IP %q: need an IPv4 address", cfg.NodeIP)
	case !cfg.ClusterCIDR.IsValid() || !cfg.ClusterCIDR.Addr().Is4():
		return cfg, fmt.Errorf("pod network: cluster CIDR %q: need an IPv4 prefix", cfg.ClusterCIDR)
	case !cfg.PodCIDR.IsValid() || !cfg.ClusterCIDR.Contains(cfg.PodCIDR.Addr()) || cfg.PodCIDR.Bits() < cfg.ClusterCIDR.Bits():
		return cfg, fmt.Errorf("pod network: pod CIDR %q: not within the cluster CIDR %s", cfg.PodCIDR, cfg.ClusterCIDR)
	case !cfg.ServiceCIDR.IsValid() || !cfg.ServiceCIDR.Addr().Is4():
		return cfg, fmt.Errorf("pod network: service CIDR %q: need an IPv4 prefix", cfg.ServiceCIDR)
	case cfg.Mode != ModeHostGW && cfg.Mode != ModeVXLAN:
		return cfg, fmt.Errorf("pod network: mode %q: want %s or %s", cfg.Mode, ModeHostGW, ModeVXLAN)
	case cfg.VXLANPort < 1 || cfg.VXLANPort > 65535:
		return cfg, fmt.Errorf("pod network: VXLAN port %d: out of range", cfg.VXLANPort)
	case cfg.Mode == ModeVXLAN && cfg.Client == nil:
		return cfg, fmt.Errorf("pod network: vxlan mode needs a client to publish the VTEP MAC")
	}
	cfg.PodCIDR, cfg.ClusterCIDR, cfg.ServiceCIDR = cfg.PodCIDR.Masked(), cfg.ClusterCIDR.Masked(), cfg.ServiceCIDR.Masked()
	return cfg, nil
}

// vtepMAC is the MAC address of a node's VXLAN device, made from its IP: 0a:58 (a locally
// administered unicast prefix) and the four address bytes. It is stable across restarts and
// re-created devices, so the other nodes' entries stay right.
func vtepMAC(nodeIP netip.Addr) net.HardwareAddr {
	b := nodeIP.As4()
	return net.HardwareAddr{0x0a, 0x58, b[0], b[1], b[2], b[3]}
}

// vtepAddr is the address of a node's VXLAN device: its pod range's network address, which
// no pod is given.
func vtepAddr(podCIDR netip.Prefix) netip.Addr { return podCIDR.Masked().Addr() }
