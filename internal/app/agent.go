package app

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/agent"
	"github.com/gantryhq/gantry/internal/agent/nodeserver"
	"github.com/gantryhq/gantry/internal/agent/stats"
	"github.com/gantryhq/gantry/internal/agent/volume"
	"github.com/gantryhq/gantry/internal/images"
	"github.com/gantryhq/gantry/internal/network/cni"
	"github.com/gantryhq/gantry/internal/runtime/cri"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// AgentConfig is the configuration of a node agent: `gantry agent`, or the one inside
// `gantry server`.
type AgentConfig struct {
	DataDir  string
	NodeName string
	// NodeIP is the node's InternalIP; empty picks the address of the interface that holds
	// the default route.
	NodeIP string
	// NodePort is the port of the agent's own API (logs, exec, port-forward, stats).
	NodePort int
	// ContainerRuntimeEndpoint is an existing CRI runtime to use; empty runs the agent's own
	// containerd.
	ContainerRuntimeEndpoint string
	// Registry is the cluster registry's host:port, which the node's containerd pulls
	// cluster images (localhost:5000/…) and imported images from; empty is the server's
	// registry port on the API server's host.
	Registry string
	Labels   map[string]string
}

// DefaultAgentConfig has the defaults of DESIGN.md.
func DefaultAgentConfig() AgentConfig {
	host, _ := os.Hostname()
	return AgentConfig{
		DataDir:  "/var/lib/gantry",
		NodeName: strings.ToLower(host),
		NodePort: 10250,
	}
}

// RunAgent runs a node agent until ctx ends: its containerd (unless it uses another
// runtime), the pod network's CNI configuration, its API and the pods bound to the node.
func RunAgent(ctx context.Context, cfg AgentConfig, restConfig *rest.Config) error {
	// A part the node cannot work without (the service proxy, DNS, the pod network) that
	// fails stops the whole agent with its reason.
	parent := ctx
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	nodeIP, err := nodeAddress(cfg.NodeIP)
	if err != nil {
		return err
	}
	root := filepath.Join(cfg.DataDir, "agent")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fmt.Errorf("create the agent's directory: %w", err)
	}
	if err := uninstall.WritePID(cfg.DataDir, "agent"); err != nil {
		return err
	}
	if restConfig.QPS == 0 {
		// The kubelet's defaults (kubeAPIQPS 50, kubeAPIBurst 100): client-go's own, 5 and 10,
		// hold a burst of pod starts back by seconds, each pod costing a few status writes.
		restConfig = rest.CopyConfig(restConfig)
		restConfig.QPS, restConfig.Burst = 50, 100
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	info, err := readClusterInfo(ctx, client)
	if err != nil {
		return err
	}
	if cfg.Registry == "" {
		if cfg.Registry, err = registryAddress(restConfig.Host, info.RegistryPort); err != nil {
			return err
		}
	}
	if err := cni.EnableForwarding(); err != nil {
		return err
	}
	// The CNI configuration is written once the node has its pod range; containerd picks
	// it up from this directory when it appears.
	cniConf := filepath.Join(cfg.DataDir, "cni", "net.d")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return fmt.Errorf("create the CNI configuration directory: %w", err)
	}
	endpoint := cfg.ContainerRuntimeEndpoint
	if endpoint == "" {
		registry := "http://" + cfg.Registry
		ctrd, err := cri.StartContainerd(ctx, cri.ContainerdConfig{
			Dir:          filepath.Join(cfg.DataDir, "containerd"),
			SandboxImage: images.PauseImage,
			CNIConfDir:   cniConf,
			Mirrors:      map[string][]string{images.ClusterRegistry: {registry}, "*": {registry}},
		})
		if err != nil {
			return err
		}
		defer ctrd.Stop()
		endpoint = ctrd.Endpoint()
	}
	rt, img, err := cri.Connect(ctx, endpoint)
	if err != nil {
		return err
	}
	capacity, err := stats.Capacity(root)
	if err != nil {
		return err
	}
	volumes := volume.NewManager(root, client, cfg.NodeName, volume.Options{StorageDir: filepath.Join(cfg.DataDir, "storage")})
	go volumes.Run(ctx)

	provider := stats.NewProvider(rt, cfg.NodeName, "/sys/fs/cgroup")
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(restConfig.CAData) {
		return errors.New("the agent's kubeconfig has no CA certificate")
	}
	api, err := nodeserver.New(nodeserver.Config{
		Runtime: rt, Stats: provider, ClientCAs: cas, CertDir: filepath.Join(root, "pki"),
		NodeName: cfg.NodeName, NodeIPs: []net.IP{nodeIP.AsSlice()},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(nodeIP.String(), strconv.Itoa(cfg.NodePort)))
	if err != nil {
		return fmt.Errorf("listen for the node API: %w", err)
	}
	go func() {
		if err := api.Serve(ctx, ln); err != nil {
			slog.Error("node API stopped", "err", err)
		}
	}()

	factory := informers.NewSharedInformerFactory(client, 0)
	dnsIP, err := startServices(ctx, fail, client, factory, cfg.DataDir, cfg.NodeName, info)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{
		NodeName: cfg.NodeName, NodeIP: nodeIP, Root: root, Port: ln.Addr().(*net.TCPAddr).Port,
		ClusterDNS: []netip.Addr{dnsIP}, ClusterDomain: info.ClusterDomain,
		Informers: factory,
		Network: &podNetwork{nodeName: cfg.NodeName, nodeIP: nodeIP, cniDir: cniConf,
			ipamDir: filepath.Join(cfg.DataDir, "cni", "networks"), info: info, client: client, factory: factory, fail: fail},
		Capacity: capacity,
		SystemReserved: corev1.ResourceList{
			// The kubelet's default hard eviction threshold for memory, kept from pods.
			corev1.ResourceMemory: resource.MustParse("100Mi"),
		},
		Labels: cfg.Labels, Client: client, Runtime: rt, Images: img, Volumes: volumes,
	})
	if err != nil {
		return err
	}
	err = a.Run(ctx)
	if parent.Err() == nil && context.Cause(ctx) != nil {
		return context.Cause(ctx)
	}
	return err
}

// nodeAddress is addr, or the IPv4 address of the interface that holds the default route.
func nodeAddress(addr string) (netip.Addr, error) {
	if addr != "" {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--node-ip: %w", err)
		}
		return ip, nil
	}
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 || fields[1] != "00000000" {
			continue
		}
		iface, err := net.InterfaceByName(fields[0])
		if err != nil {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				ip, _ := netip.AddrFromSlice(n.IP.To4())
				return ip, nil
			}
		}
	}
	return netip.Addr{}, errors.New("no default route to take the node's address from: set --node-ip")
}
