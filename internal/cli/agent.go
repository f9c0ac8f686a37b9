package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/internal/agent/bootstrap"
	"github.com/gantryhq/gantry/internal/agent/simulate"
	"github.com/gantryhq/gantry/internal/app"
)

func newAgentCommand() *cobra.Command {
	opts := simulate.DefaultOptions()
	real := app.DefaultAgentConfig()
	var (
		nodes                        int
		server, token, kubeconfig    string
		cpu, memory, pods, ephemeral string
		podCIDR                      string
		taints                       []string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent; with --simulate N, run N simulated nodes for capacity planning and scale tests",
		Long: `Run a node agent: it registers this machine as a Node and runs the pods bound to it as
containers, through its own containerd (or --container-runtime-endpoint), with the pod network
of the CNI plugins.

With --simulate N the agent registers N simulated nodes of the given capacity, labels and
zones, keeps their Leases fresh, and runs the pods bound to them in the API only: a pod
becomes Running and Ready after --pod-start-delay, a pod owned by a Job succeeds after
--job-duration, and a deleted pod goes at once. Nothing is started and no traffic is sent,
so one process can stand for thousands of nodes: use it to see how workloads spread and
fit (capacity planning) and how the control plane holds up (scale testing). It uses only
the Kubernetes API, so it works against any Kubernetes-compatible server.

To join a machine, give --server and --token (printed by ` + "`gantry server`" + ` and by
` + "`gantry token create`" + `): the agent checks the server's CA against the token, requests a
client certificate for system:node:<node-name>, and keeps it in DATA/agent/kubeconfig; later
starts use that and need no token. --kubeconfig uses the given credentials instead.
Simulated nodes need an admin kubeconfig (a node certificate writes only its own Node).`,
		Example: `  gantry agent --simulate 1000 --kubeconfig /var/lib/gantry/admin.kubeconfig --zones 3 --cpu 16 --memory 64Gi
  gantry agent --server https://10.0.0.1:6443 --token gantry1.<ca-hash>.<id>.<secret>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			simulated := cmd.Flags().Changed("simulate")
			cfg, err := agentConfig(ctx, kubeconfig, server, token, simulated, real)
			if err != nil {
				return err
			}
			if !simulated {
				return app.RunAgent(ctx, real, cfg)
			}
			opts.Nodes = nodes
			if opts.Capacity, err = capacity(cpu, memory, pods, ephemeral); err != nil {
				return err
			}
			if opts.PodCIDR, err = netip.ParsePrefix(podCIDR); err != nil {
				return fmt.Errorf("--pod-cidr: %w", err)
			}
			if opts.Taints, err = simulate.ParseTaints(taints); err != nil {
				return fmt.Errorf("--taints: %w", err)
			}
			return simulate.Run(ctx, cfg, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "simulate", 0, "run this many simulated nodes")
	f.StringVar(&server, "server", "", "URL of the API server, https://HOST:6443 (with --token, or to override --kubeconfig's)")
	f.StringVar(&token, "token", "", "join token (gantry1.<ca-hash>.<id>.<secret>) to join with; it also verifies the server")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to reach the API server with (instead of --token)")
	f.StringVar(&real.DataDir, "data-dir", real.DataDir, "directory for the agent's state, its containerd, pod volumes and logs")
	f.StringVar(&real.NodeName, "node-name", real.NodeName, "name of this node (default: the host name)")
	f.StringVar(&real.NodeIP, "node-ip", real.NodeIP, "the node's InternalIP, where the API server reaches the agent (default: the address of the default route's interface)")
	f.IntVar(&real.NodePort, "node-port", real.NodePort, "port of the agent's API (logs, exec, port-forward, stats)")
	f.StringVar(&real.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI runtime (unix:///run/containerd/containerd.sock) instead of the agent's own containerd")
	f.StringVar(&real.Registry, "registry", real.Registry, "host:port of the cluster's registry, that images are pulled from (default: the registry port on the API server's host)")
	f.StringVar(&opts.NodePrefix, "node-prefix", opts.NodePrefix, "simulated nodes are named <prefix>-0, <prefix>-1, …")
	f.StringVar(&cpu, "cpu", "8", "CPU capacity of each node")
	f.StringVar(&memory, "memory", "32Gi", "memory capacity of each node")
	f.StringVar(&pods, "pods", "110", "pod capacity of each node")
	f.StringVar(&ephemeral, "ephemeral-storage", "100Gi", "ephemeral storage capacity of each node (empty: none)")
	f.IntVar(&opts.Zones, "zones", opts.Zones, "spread the nodes over this many zones, zone-a, zone-b, … (0: no zone label)")
	f.StringVar(&opts.Arch, "arch", opts.Arch, "architecture the nodes report (kubernetes.io/arch)")
	f.StringToStringVar(&opts.Labels, "labels", nil, "more node labels, k=v,k2=v2")
	f.StringSliceVar(&taints, "taints", nil, "node taints, key[=value]:Effect,…")
	f.StringVar(&podCIDR, "pod-cidr", simulate.DefaultPodCIDR, "IPv4 range the made-up node and pod addresses come from (status only; never contacted)")
	f.DurationVar(&opts.PodStartDelay, "pod-start-delay", opts.PodStartDelay, "time from a pod being bound to it being Running and Ready")
	f.DurationVar(&opts.JobDuration, "job-duration", opts.JobDuration, "time a pod owned by a Job runs before it succeeds")
	f.DurationVar(&opts.LeaseRenewInterval, "lease-renew-interval", opts.LeaseRenewInterval, "how often each node renews its Lease")
	f.DurationVar(&opts.LeaseDuration, "lease-duration", opts.LeaseDuration, "leaseDurationSeconds of the nodes' Leases")
	f.DurationVar(&opts.NodeStatusInterval, "node-status-interval", opts.NodeStatusInterval, "how often each node's Ready heartbeat is written")
	f.IntVar(&opts.Workers, "workers", opts.Workers, "concurrent requests of each of the agent's loops")
	f.Float32Var(&opts.QPS, "qps", 0, "client requests per second (0: sized from the node count)")
	f.IntVar(&opts.Burst, "burst", 0, "client request burst (0: twice --qps)")
	return cmd
}

// capacity is the resource list of the capacity flags.
func capacity(cpu, memory, pods, ephemeral string) (corev1.ResourceList, error) {
	list := corev1.ResourceList{}
	for _, r := range []struct {
		name  corev1.ResourceName
		flag  string
		value string
	}{
		{corev1.ResourceCPU, "cpu", cpu},
		{corev1.ResourceMemory, "memory", memory},
		{corev1.ResourcePods, "pods", pods},
		{corev1.ResourceEphemeralStorage, "ephemeral-storage", ephemeral},
	} {
		if r.value == "" && r.name == corev1.ResourceEphemeralStorage {
			continue
		}
		q, err := resource.ParseQuantity(r.value)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", r.flag, err)
		}
		list[r.name] = q
	}
	return list, nil
}

// agentConfig is how the agent reaches the API server: the kubeconfig if given (with
// --server overriding its address); for simulated nodes the server and the join token; for a
// real node its own credentials in DATA/agent/kubeconfig, made by joining with the token when
// there are none that work.
func agentConfig(ctx context.Context, kubeconfig, server, token string, simulated bool, node app.AgentConfig) (*rest.Config, error) {
	switch {
	case kubeconfig != "":
		return clientcmd.BuildConfigFromFlags(server, kubeconfig)
	case !simulated:
		return bootstrap.Config(ctx, bootstrap.Options{
			Server: server, Token: token, NodeName: node.NodeName,
			Kubeconfig: filepath.Join(node.DataDir, "agent", "kubeconfig"),
		})
	case server != "" && token != "":
		return simulate.TokenConfig(ctx, server, token)
	}
	return nil, errors.New("give --kubeconfig, or --server and --token")
}
