package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/internal/agent"
	"github.com/gantryhq/gantry/internal/network/cni"
	"github.com/gantryhq/gantry/internal/network/dns"
	"github.com/gantryhq/gantry/internal/network/iproute"
	"github.com/gantryhq/gantry/internal/network/podnet"
	"github.com/gantryhq/gantry/internal/network/proxy"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// dnsServiceName is the cluster DNS service in kube-system, which the API server makes at
// bootstrap; its cluster IP is where every agent answers DNS.
const dnsServiceName = "kube-dns"

// startServices runs the node's service proxy and its cluster DNS server on the DNS
// service's address, and returns that address for the pods' resolv.conf; if either stops,
// it calls fail. The informers are started by the agent.
func startServices(ctx context.Context, fail context.CancelCauseFunc, client kubernetes.Interface, factory informers.SharedInformerFactory, dataDir, nodeName string, ci clusterInfo) (netip.Addr, error) {
	dnsIP, err := dnsServiceIP(ctx, client)
	if err != nil {
		return netip.Addr{}, err
	}
	services, slices := factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices()
	p, err := proxy.New(proxy.Config{
		NodeName: nodeName, ClusterCIDR: ci.ClusterCIDR, ServiceCIDR: ci.ServiceCIDR, NodeLocal: []netip.Addr{dnsIP},
	}, services, slices)
	if err != nil {
		return netip.Addr{}, err
	}
	d, err := dns.New(dns.Config{ClusterDomain: ci.ClusterDomain}, services, slices)
	if err != nil {
		return netip.Addr{}, err
	}
	// The DNS address is the node's own, on lo: pods' packets to it are delivered locally.
	// It is recorded for `gantry uninstall`.
	if err := os.WriteFile(uninstall.DNSAddressFile(dataDir), []byte(dnsIP.String()+"\n"), 0o644); err != nil {
		return netip.Addr{}, err
	}
	if err := iproute.Run("addr", "replace", dnsIP.String()+"/32", "dev", "lo"); err != nil {
		return netip.Addr{}, fmt.Errorf("take the cluster DNS address: %w", err)
	}
	go func() {
		if err := p.Run(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("service proxy: %w", err))
		}
	}()
	go func() {
		if err := d.Serve(ctx, net.JoinHostPort(dnsIP.String(), "53")); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("cluster DNS: %w", err))
		}
	}()
	return dnsIP, nil
}

// dnsServiceIP reads the cluster IP of kube-system/kube-dns, waiting for a server that is
// still bootstrapping.
func dnsServiceIP(ctx context.Context, client kubernetes.Interface) (netip.Addr, error) {
	for {
		svc, err := client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, dnsServiceName, metav1.GetOptions{})
		if err == nil {
			ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("service kube-system/%s has no cluster IP: %w", dnsServiceName, err)
			}
			return ip, nil
		}
		slog.Info("waiting for the cluster DNS service", "err", err)
		select {
		case <-ctx.Done():
			return netip.Addr{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// podNetwork is the node's pod network: the CNI configuration for its pod range and the
// routes to every other node's.
type podNetwork struct {
	nodeName string
	nodeIP   netip.Addr
	cniDir   string
	ipamDir  string
	info     clusterInfo
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	// fail stops the agent when the routes can no longer be kept.
	fail context.CancelCauseFunc
}

var _ agent.Network = (*podNetwork)(nil)

// Start writes the CNI configuration for the node's pod range and keeps the routes to the
// other nodes' ranges in line with the Nodes.
func (n *podNetwork) Start(ctx context.Context, node *corev1.Node) error {
	podCIDR, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		return fmt.Errorf("node %s: spec.podCIDR: %w", node.Name, err)
	}
	cfg := podnet.Config{
		NodeName: n.nodeName, NodeIP: n.nodeIP, PodCIDR: podCIDR,
		ClusterCIDR: n.info.ClusterCIDR, ServiceCIDR: n.info.ServiceCIDR, Mode: n.info.PodNetwork, Client: n.client,
	}
	routes, err := podnet.New(cfg, n.factory.Core().V1().Nodes())
	if err != nil {
		return err
	}
	mtu, err := podnet.PodMTU(cfg)
	if err != nil {
		return err
	}
	// The proxy's table masquerades pod egress; the bridge plugin must not as well.
	if err := cni.WriteConfig(n.cniDir, cni.Config{PodCIDR: podCIDR, IPAMDataDir: n.ipamDir, DisableIPMasq: true, MTU: mtu}); err != nil {
		return err
	}
	n.factory.Start(ctx.Done())
	go func() {
		if err := routes.Run(ctx); err != nil && ctx.Err() == nil {
			n.fail(fmt.Errorf("pod network: %w", err))
		}
	}()
	return nil
}

// registryAddress is where the node pulls cluster images from: the server's registry port
// on the host the agent reaches the API server at.
func registryAddress(apiURL string, port int) (string, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(apiURL, "https://"), "http://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		return "", fmt.Errorf("no host in the API server's URL %q", apiURL)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}
