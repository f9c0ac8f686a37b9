package cli

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/internal/uninstall"
)

func newUninstallCommand() *cobra.Command {
	opts := uninstall.Options{DataDir: "/var/lib/gantry"}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop Gantry on this machine and remove everything it made",
		Long: `Stop the gantry server or agent that uses --data-dir and remove what it made on this
machine: every pod's containers, sandbox and network namespace (through containerd, so the
CNI plugins release them), the containerd it ran, the agent's nftables table, its routes,
the pod bridge, the cluster DNS address, the mounts under the data directory, and the data
directory itself (unless --keep-data).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return uninstall.Run(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", opts.DataDir, "the data directory of the server or agent to remove")
	cmd.Flags().BoolVar(&opts.KeepData, "keep-data", false, "keep the data directory (etcd, certificates, images)")
	return cmd
}
