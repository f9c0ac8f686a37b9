package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/internal/bench"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Gantry",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchAPICommand(), newBenchSchedulerCommand(), newBenchPodsCommand())
	return cmd
}

func newBenchAPICommand() *cobra.Command {
	var opts bench.APIOptions
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the API server: start-up, memory, pod creates, LIST and watch delivery",
		Long: `Starts a gantry server on a temporary data directory (or measures the one --kubeconfig
points at), creates pods, lists them and updates one while many clients watch, and prints
the figures. It judges none of them: compare figures taken on the same machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return bench.API(ctx, os.Stdout, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Pods, "pods", 10000, "number of pods to create")
	f.IntVar(&opts.Clients, "clients", 8, "number of concurrent clients creating pods")
	f.IntVar(&opts.Watchers, "watchers", 100, "number of watches that receive each update")
	f.IntVar(&opts.Updates, "updates", 100, "number of measured updates the watchers receive")
	f.StringVar(&opts.DataDir, "data-dir", "", "data directory of the server to start (default: a new temporary directory, removed afterwards)")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "measure the running server this kubeconfig points at instead of starting one")
	return cmd
}

func newBenchSchedulerCommand() *cobra.Command {
	var opts bench.SchedulerOptions
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Measure the scheduler: pods/s, create-to-binding latency, server CPU and memory",
		Long: `For each workload, starts a gantry server on a new data directory, registers simulated
nodes (their pods are bound but not started, as in upstream's scheduler_perf), creates pods as
fast as the clients can while the scheduler runs, and prints throughput, the p50/p99 latency
from each create to its binding, and the server's CPU time and peak memory.

Workloads: plain (100m CPU, 500Mi each), anti-affinity (required pod anti-affinity by
hostname within groups of half as many pods as nodes), spread (maxSkew 1 over zones,
DoNotSchedule, and over nodes, ScheduleAnyway).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return bench.Scheduler(ctx, os.Stdout, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Nodes, "nodes", 1000, "number of simulated nodes")
	f.IntVar(&opts.Pods, "pods", 10000, "number of pods to schedule")
	f.IntVar(&opts.Clients, "clients", 16, "number of concurrent clients creating pods")
	f.StringSliceVar(&opts.Workloads, "workload", bench.Workloads, "workloads to run, each on a new server")
	f.StringVar(&opts.DataDir, "data-dir", "", "directory for the servers' data (default: a new temporary directory, removed afterwards)")
	return cmd
}

func newBenchPodsCommand() *cobra.Command {
	var opts bench.PodsOptions
	cmd := &cobra.Command{
		Use:   "pods",
		Short: "Measure pod startup on a real node: create-to-Ready latency, agent and containerd memory and idle CPU",
		Long: `Starts a control-plane server and a node agent (with its own containerd) on a temporary
data directory, then creates batches of pods of the pause image (present on the node) at once
and prints the p50/p99 time from each create request to its Ready condition, the resident
memory of the agent and of containerd at idle and with the largest batch running, and their
CPU use at idle. It needs root, containerd, runc and the CNI plugins (scripts/setup.sh).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return bench.Pods(ctx, os.Stdout, opts)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&opts.Counts, "pods", []int{1, 30, 100}, "batch sizes, each created at once")
	f.DurationVar(&opts.IdleCPU, "idle", time.Minute, "how long idle CPU use is measured")
	f.StringVar(&opts.DataDir, "data-dir", "", "directory for the server's and agent's data (default: a new temporary directory, removed afterwards)")
	return cmd
}
