package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectl "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	"k8s.io/kubectl/pkg/cmd/util"
)

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl [args...]",
		Short:              "Run the built-in kubectl against this cluster (the admin kubeconfig unless KUBECONFIG or --kubeconfig says otherwise)",
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			os.Exit(runKubectl(args))
		},
	}
}

// defaultDataDir is where `gantry server` keeps its state unless told otherwise; GANTRY_DATA_DIR
// points kubectl at another server's admin kubeconfig.
func defaultDataDir() string {
	if dir := os.Getenv("GANTRY_DATA_DIR"); dir != "" {
		return dir
	}
	return "/var/lib/gantry"
}

// runKubectl runs upstream kubectl with args. Without KUBECONFIG it uses the local server's
// admin kubeconfig, if there is one; --kubeconfig still wins, as kubectl always lets it.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" {
		admin := filepath.Join(defaultDataDir(), "admin.kubeconfig")
		if _, err := os.Stat(admin); err == nil {
			os.Setenv("KUBECONFIG", admin)
		}
	}
	argv := append([]string{"kubectl"}, args...)
	logs.GlogSetter(kubectl.GetLogVerbosity(argv)) //nolint:errcheck
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectl.NewDefaultKubectlCommandWithArgs(kubectl.KubectlOptions{
		PluginHandler: kubectl.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     argv,
		ConfigFlags:   genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).WithWarningPrinter(streams),
		IOStreams:     streams,
	})
	cmd.SetArgs(args)
	if err := cli.RunNoErrOutput(cmd); err != nil {
		util.CheckErr(err)
		return 1
	}
	return 0
}
