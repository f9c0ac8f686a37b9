package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/internal/devcluster"
)

func newDevCommand() *cobra.Command {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Tools for trying Gantry out and testing it on one machine",
	}
	var opts devcluster.Options
	var subnet string
	var keep bool
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Run a multi-node cluster on this machine: a server and N nodes in network namespaces",
		Long: `Run a multi-node cluster on this machine until interrupted: a control-plane server on the
host, listening on the first address of --subnet on a bridge, and --nodes nodes, each a
network namespace wired to that bridge with its own address, running "gantry agent"
joined with the server's token and its own containerd. Each node has its own routes,
nftables table and pod bridge, so services, DNS and the pod network work as across
machines.

On exit (Ctrl-C or SIGTERM) everything is removed unless --keep is given; "gantry dev
cluster delete" removes a kept or crashed one.`,
		Example: `  gantry dev cluster --nodes 3
  gantry kubectl --kubeconfig /var/lib/gantry-dev/server/admin.kubeconfig get nodes -o wide`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Subnet, err = netip.ParsePrefix(subnet); err != nil {
				return fmt.Errorf("--subnet: %w", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			c, err := devcluster.Start(ctx, opts)
			if err != nil {
				devcluster.Destroy(opts)
				return err
			}
			fmt.Fprintf(os.Stderr, "\nA %d-node cluster is running. Use it with:\n  gantry kubectl --kubeconfig %s get nodes -o wide\n\n", len(c.Nodes), c.Kubeconfig)
			<-ctx.Done()
			c.Stop()
			if keep {
				return nil
			}
			return devcluster.Destroy(opts)
		},
	}
	f := cluster.Flags()
	f.IntVar(&opts.Nodes, "nodes", 3, "number of nodes")
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/gantry-dev", "directory for the server's and the nodes' data")
	f.StringVar(&subnet, "subnet", "100.66.0.0/24", "subnet of the bridge and the nodes' addresses")
	f.StringVar(&opts.Bridge, "bridge", "gantry-dev", "name of the host bridge; the nodes' namespaces are <bridge>-N")
	f.IntVar(&opts.APIPort, "https-port", 6443, "port of the Kubernetes API on the bridge address")
	f.IntVar(&opts.RegistryPort, "registry-port", 5000, "port of the image registry on the bridge address")
	f.BoolVar(&keep, "keep", false, "leave the cluster's network, containers and data in place on exit")

	del := &cobra.Command{
		Use:   "delete",
		Short: "Remove a dev cluster: its processes, containers, network namespaces, bridge and data",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return devcluster.Destroy(opts)
		},
	}
	del.Flags().StringVar(&opts.DataDir, "data-dir", "/var/lib/gantry-dev", "the dev cluster's data directory")
	del.Flags().StringVar(&opts.Bridge, "bridge", "gantry-dev", "the dev cluster's bridge")
	cluster.AddCommand(del)
	dev.AddCommand(cluster)
	return dev
}
