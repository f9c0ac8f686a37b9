package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// names is an ordered set of subject alternative names.
type names struct {
	dns []string
	ips []net.IP
}

// add adds s as an IP address if it is one, else as a DNS name.
func (n *names) add(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if ip := net.ParseIP(s); ip != nil {
		n.addIP(ip)
		return
	}
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if !slices.Contains(n.dns, s) {
		n.dns = append(n.dns, s)
	}
}

func (n *names) addIP(ip net.IP) {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	if !slices.ContainsFunc(n.ips, ip.Equal) {
		n.ips = append(n.ips, ip)
	}
}

func (n *names) addCert(cert *x509.Certificate) {
	for _, d := range cert.DNSNames {
		n.add(d)
	}
	for _, ip := range cert.IPAddresses {
		n.addIP(ip)
	}
}

// missing lists the names of n that cert does not carry.
func (n names) missing(cert *x509.Certificate) []string {
	var have names
	have.addCert(cert)
	var out []string
	for _, d := range n.dns {
		if !slices.Contains(have.dns, d) {
			out = append(out, d)
		}
	}
	for _, ip := range n.ips {
		if !slices.ContainsFunc(have.ips, ip.Equal) {
			out = append(out, ip.String())
		}
	}
	return out
}

// servingNames is every name the API serving certificate must carry.
func servingNames(o Options) (names, error) {
	var n names
	lookup := o.lookupHost
	if lookup == nil {
		lookup = lookupHost
	}
	hostname, addrs, err := lookup()
	if err != nil {
		return names{}, err
	}
	n.add(hostname)
	n.add("localhost")
	n.add("kubernetes")
	n.add("kubernetes.default")
	n.add("kubernetes.default.svc")
	n.add("kubernetes.default.svc." + o.ClusterDomain)
	n.addIP(net.IPv4(127, 0, 0, 1))
	n.addIP(net.IPv6loopback)
	ips, err := serviceIPs(o.ServiceCIDR)
	if err != nil {
		return names{}, err
	}
	for _, ip := range ips {
		n.addIP(ip)
	}
	for _, ip := range addrs {
		n.addIP(ip)
	}
	for _, s := range o.ExtraSANs {
		n.add(s)
	}
	return n, nil
}

// serviceIPs returns the first address of each range in cidrs, a comma-separated list
// (two ranges for dual stack): the kubernetes service's cluster IP.
func serviceIPs(cidrs string) ([]net.IP, error) {
	var ips []net.IP
	for _, s := range strings.Split(cidrs, ",") {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("service CIDR: %w", err)
		}
		first := prefix.Masked().Addr().Next()
		if !first.IsValid() || !prefix.Contains(first) {
			return nil, fmt.Errorf("service CIDR %s has no room for the kubernetes service", prefix)
		}
		ips = append(ips, net.IP(first.AsSlice()))
	}
	return ips, nil
}

// lookupHost returns the host's name and the addresses of its interfaces that a client on
// another machine could use: not loopback, not link-local (an IPv6 link-local address
// needs a zone no certificate can name), not multicast.
func lookupHost() (string, []net.IP, error) {
	hostname, err := os.Hostname()
	if err != nil {
		return "", nil, fmt.Errorf("hostname: %w", err)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", nil, fmt.Errorf("interface addresses: %w", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipnet.IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		ips = append(ips, ip)
	}
	return hostname, ips, nil
}
