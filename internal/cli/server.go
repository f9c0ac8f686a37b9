package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/internal/app"
)

func newServerCommand() *cobra.Command {
	cfg := app.DefaultServerConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd and the Kubernetes API server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			s, err := app.StartServer(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					// Stopped by a signal while starting: a clean stop, not a failure.
					return nil
				}
				return err
			}
			fmt.Fprintf(os.Stderr, "\nGantry is running. Use it with:\n  gantry kubectl --kubeconfig %s get nodes\nJoin other machines with:\n  %s\n\n", s.Kubeconfig, s.JoinCommand)
			return s.Wait()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for etcd data, certificates and the admin kubeconfig")
	f.IntVar(&cfg.HTTPSPort, "https-port", cfg.HTTPSPort, "port of the Kubernetes API (HTTPS)")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API and the registry listen on")
	f.IntVar(&cfg.RegistryPort, "registry-port", cfg.RegistryPort, "port of the embedded OCI image registry (plain HTTP); 0 picks a free one")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "range of service cluster IPs")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "range of pod IPs")
	f.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", cfg.NodeCIDRMaskSize, "prefix length of each node's pod range out of --cluster-cidr")
	f.StringVar(&cfg.PodNetwork, "pod-network", cfg.PodNetwork, "how pod traffic crosses nodes: host-gw (routes via the nodes' addresses; nodes share a link) or vxlan")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", cfg.ClusterDomain, "DNS domain of the cluster")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", cfg.NodeMonitorGracePeriod, "how long a node may stop reporting before it is marked Unknown and its pods are moved")
	f.BoolVar(&cfg.AllowPrivileged, "allow-privileged", cfg.AllowPrivileged, "admit privileged containers")
	f.StringVar(&cfg.LocalPathDir, "local-path-dir", cfg.LocalPathDir, "directory of local-path volumes on every node (default DATA/storage)")
	f.BoolVar(&cfg.DisableControllers, "disable-controllers", cfg.DisableControllers, "do not run the controllers (to run them against this server from elsewhere)")
	f.BoolVar(&cfg.DisableScheduler, "disable-scheduler", cfg.DisableScheduler, "do not run the scheduler (to run another one against this server)")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", cfg.DisableAgent, "do not run a node agent in this process (a control-plane-only server)")
	f.StringVar(&cfg.Agent.NodeName, "node-name", cfg.Agent.NodeName, "name of the server's own node (default: the host name)")
	f.StringVar(&cfg.Agent.NodeIP, "node-ip", cfg.Agent.NodeIP, "InternalIP of the server's own node (default: the address of the default route's interface)")
	f.IntVar(&cfg.Agent.NodePort, "node-port", cfg.Agent.NodePort, "port of the node agent's API (logs, exec, port-forward, stats)")
	f.StringVar(&cfg.Agent.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "run pods with this CRI runtime (unix:///run/containerd/containerd.sock) instead of the agent's own containerd")
	return cmd
}
