package proxy

import (
	"fmt"
	"net/netip"
	"slices"
)

// DefaultTable is the nftables table the proxy owns when Config.Table is empty.
const DefaultTable = "gantry"

// Config describes the node the proxy runs on. It lists no node addresses on purpose: NodePorts
// and the Local policy's "from this node" test use fib (daddr/saddr type local), which follows
// the node's addresses as they come and go.
type Config struct {
	// NodeName is this node's name: endpoints whose nodeName equals it are local, which is what
	// the Local traffic policies and hairpin masquerading go by.
	NodeName string
	// ClusterCIDR is the pod network of the whole cluster. Traffic from outside it to a
	// service is masqueraded; pod traffic leaving it is masqueraded (the proxy owns pod egress
	// masquerading, not the CNI bridge plugin).
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the cluster IP range. Pod traffic to it is not egress.
	ServiceCIDR netip.Prefix
	// Table is the nftables table the proxy owns; DefaultTable if empty.
	Table string
	// NodeLocal lists cluster IPs the node serves itself (the cluster DNS address): the proxy
	// writes no rules for these addresses, so packets to them reach the node's own listener.
	NodeLocal []netip.Addr
}

// withDefaults returns cfg with defaults filled in, or an error if it cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.NodeName == "" {
		return cfg, fmt.Errorf("proxy config: NodeName is required")
	}
	for name, p := range map[string]netip.Prefix{"ClusterCIDR": cfg.ClusterCIDR, "ServiceCIDR": cfg.ServiceCIDR} {
		if !p.IsValid() || !p.Addr().Is4() {
			return cfg, fmt.Errorf("proxy config: %s %v must be an IPv4 prefix", name, p)
		}
	}
	cfg.ClusterCIDR = cfg.ClusterCIDR.Masked()
	cfg.ServiceCIDR = cfg.ServiceCIDR.Masked()
	if cfg.ClusterCIDR.Overlaps(cfg.ServiceCIDR) {
		return cfg, fmt.Errorf("proxy config: ClusterCIDR %v overlaps ServiceCIDR %v", cfg.ClusterCIDR, cfg.ServiceCIDR)
	}
	cfg.NodeLocal = slices.Clone(cfg.NodeLocal)
	return cfg, nil
}

// isNodeLocal reports whether the node itself serves ip.
func (cfg *Config) isNodeLocal(ip netip.Addr) bool {
	return slices.Contains(cfg.NodeLocal, ip)
}
