// Package cli holds gantry's commands, one file per verb. Commands parse flags and call
// internal/app; they hold no logic of their own.
package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Run executes the gantry command line and returns the process exit code.
func Run(args []string) int {
	// kubectl parses its own flags: hand it the arguments untouched.
	if len(args) > 0 && args[0] == "kubectl" {
		return runKubectl(args[1:])
	}
	root := &cobra.Command{
		Use:           "gantry",
		Short:         "A small container orchestrator that speaks the Kubernetes API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var logLevel string
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		return nil
	}
	root.AddCommand(newServerCommand(), newKubectlCommand(), newBenchCommand(), newAgentCommand(), newImageCommand(),
		newDevCommand(), newTokenCommand(), newUninstallCommand())
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}
