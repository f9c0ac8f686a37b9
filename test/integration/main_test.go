// Package integration drives an in-process gantry server the way users do: with client-go and
// with the built-in kubectl.
package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/internal/app"
	"github.com/gantryhq/gantry/internal/cli"
)

// The test binary doubles as the gantry binary: with GANTRY_TEST_MAIN set it runs the gantry
// command line instead of the tests. kubectl tests and process-level tests (kill -9) use it.
func TestMain(m *testing.M) {
	if os.Getenv("GANTRY_TEST_MAIN") == "1" {
		os.Exit(cli.Run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cluster is an in-process server for one test.
type cluster struct {
	t          *testing.T
	server     *app.Server
	config     *rest.Config
	client     kubernetes.Interface
	kubeconfig string
	dataDir    string
}

type option func(*app.ServerConfig)

// startCluster starts a server on a temporary data directory and a free loopback port. It is
// stopped when the test ends.
func startCluster(t *testing.T, opts ...option) *cluster {
	t.Helper()
	cfg := app.DefaultServerConfig()
	cfg.DataDir = t.TempDir()
	cfg.BindAddress = "127.0.0.1"
	cfg.HTTPSPort = 0
	// These tests are about the control plane; pods run on simulated nodes, and the
	// end-to-end tests (test/e2e) run the real agent.
	cfg.DisableAgent = true
	cfg.RegistryPort = 0
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := app.StartServer(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		s.Wait()
	})
	config, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	config.QPS, config.Burst = 1000, 2000
	return &cluster{t: t, server: s, config: config, client: kubernetes.NewForConfigOrDie(config), kubeconfig: s.Kubeconfig, dataDir: cfg.DataDir}
}

// gantry runs the gantry command line (this test binary) with args.
func gantryCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "GANTRY_TEST_MAIN=1"), env...)
	return cmd
}

// kubectl runs the built-in kubectl against c and returns its output; a failure fails the test.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(nil, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlErr runs kubectl with stdin and returns its combined output and error.
func (c *cluster) kubectlErr(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := gantryCmd(ctx, []string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, append([]string{"kubectl"}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// home keeps kubectl's discovery cache per test, so that tests never see each other's.
func (c *cluster) home() string {
	dir := filepath.Join(c.dataDir, "home")
	os.MkdirAll(dir, 0o700)
	return dir
}

// writeFile writes a manifest for kubectl to read.
func (c *cluster) writeFile(name, content string) string {
	c.t.Helper()
	p := filepath.Join(c.dataDir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
