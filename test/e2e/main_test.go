// Package e2e runs `gantry server` as a process on this machine, with its node agent,
// containerd, runc and the CNI plugins, and checks what users see of real containers: pods
// that serve, restart, crash, run out of memory, keep their data, and the day-two commands of
// the built-in kubectl. It needs root and the packages scripts/setup.sh installs.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/cli"
	"github.com/gantryhq/gantry/internal/images"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// testImage is the image of test/images/testserver, pushed to the cluster's registry.
const testImage = images.TestServerImage

// The test binary doubles as the gantry binary: with GANTRY_TEST_MAIN set it runs the gantry
// command line instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("GANTRY_TEST_MAIN") == "1" {
		os.Exit(cli.Run(os.Args[1:]))
	}
	code := m.Run()
	if shared != nil {
		shared.destroy(code != 0)
	}
	destroyMulti(code != 0)
	os.Exit(code)
}

// shared is the server the tests share: starting one (containerd, the registry, the test
// image) costs seconds, and each test works in its own namespace.
var shared *server

// cluster returns the shared server, starting it for the first test that asks.
func cluster(t *testing.T) *server {
	t.Helper()
	if shared == nil {
		dir, err := os.MkdirTemp("", "gantry-e2e-")
		if err != nil {
			t.Fatal(err)
		}
		shared = startServer(t, dir)
	}
	if shared.failed {
		t.Fatal("the shared server failed to start")
	}
	shared.t = t
	return shared
}

// server is one `gantry server` process with its in-process agent.
type server struct {
	t          *testing.T
	failed     bool
	dataDir    string
	args       []string
	cmd        *exec.Cmd
	exited     chan struct{}
	kubeconfig string
	config     *rest.Config
	client     kubernetes.Interface
	registry   string
	node       string
}

// startServer starts gantry server on free loopback ports and data directory dir, waits for
// its node to be Ready, and pushes the test image to its registry.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dir, node: "e2e-" + strconv.Itoa(os.Getpid()), failed: true}
	api, reg, agent := freePort(t), freePort(t), freePort(t)
	s.registry = "127.0.0.1:" + strconv.Itoa(reg)
	s.args = []string{"server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--https-port", strconv.Itoa(api), "--registry-port", strconv.Itoa(reg),
		"--node-name", s.node, "--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(agent)}
	s.start()

	s.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	eventually(t, 30*time.Second, "the admin kubeconfig", func() bool {
		_, err := os.Stat(s.kubeconfig)
		return err == nil
	})
	config, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	s.config = config
	s.client = kubernetes.NewForConfigOrDie(config)
	s.waitNodeReady()

	img, err := images.BuildGo(context.Background(), "./test/images/testserver", moduleRoot(t), images.TestServerLinks)
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	if err := images.Push(context.Background(), img, s.registry+"/gantry/testserver:1"); err != nil {
		t.Fatalf("push the test image: %v", err)
	}
	s.failed = false
	return s
}

// start runs the server process.
func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(os.Args[0], s.args...)
	cmd.Env = append(os.Environ(), "GANTRY_TEST_MAIN=1")
	log, err := os.OpenFile(filepath.Join(s.dataDir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start gantry server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(s.exited)
	}()
}

// kill9 kills the server process the hard way, leaving its containers running.
func (s *server) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// destroy removes every pod through the API (so that the agent tears their sandboxes and
// networks down), stops the server, and then uninstalls it, printing the end of the server's
// log when the tests failed.
func (s *server) destroy(failed bool) {
	if failed {
		if data, err := os.ReadFile(filepath.Join(s.dataDir, "server.log")); err == nil {
			fmt.Fprintf(os.Stderr, "server log (last 16 KiB):\n%s\n", tail(data, 16<<10))
		}
	}
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for s.client != nil && len(s.ctr("containers", "ls", "-q")) > 0 && time.Now().Before(deadline) {
		// The tests' namespaces go with their controllers (which would replace deleted
		// pods); pods are deleted at once so that the agent tears them down now.
		namespaces, _ := s.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		for _, ns := range namespaces.Items {
			if !strings.HasPrefix(ns.Name, "kube-") && ns.Name != metav1.NamespaceDefault {
				s.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
			}
			s.client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		}
		time.Sleep(time.Second)
	}
	if left := s.ctr("containers", "ls", "-q"); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "containers left after deleting every pod: %v\n", left)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	// What the node made on this machine (its nftables table, routes, bridge, DNS address)
	// goes too, and whatever a failed test left running.
	if err := uninstall.Run(context.Background(), uninstall.Options{DataDir: s.dataDir}); err != nil {
		fmt.Fprintf(os.Stderr, "gantry uninstall: %v\n", err)
	}
}

// ctr runs containerd's ctr against the server's containerd and returns the fields it printed.
func (s *server) ctr(args ...string) []string {
	sock := filepath.Join(s.dataDir, "containerd", "containerd.sock")
	out, _ := exec.Command("ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...).Output()
	return strings.Fields(string(out))
}

func (s *server) waitNodeReady() {
	eventually(s.t, 60*time.Second, "node "+s.node+" Ready", func() bool {
		n, err := s.client.CoreV1().Nodes().Get(context.Background(), s.node, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
}

// kubectl runs the built-in kubectl and returns its output; a failure fails the test.
func (s *server) kubectl(args ...string) string {
	s.t.Helper()
	out, err := s.kubectlErr(nil, args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *server) kubectlErr(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.kubectlCmd(ctx, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *server) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"kubectl", "--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "GANTRY_TEST_MAIN=1", "HOME="+s.dataDir)
	return cmd
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// eventually polls f until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// namespace creates a namespace for one test.
func (s *server) namespace(name string) string {
	_, err := s.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// pod returns the pod's current state.
func (s *server) pod(ns, name string) *corev1.Pod {
	p, err := s.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		s.t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	return p
}

// waitReady waits for a pod to be Ready and returns it.
func (s *server) waitReady(ns, name string) *corev1.Pod {
	s.t.Helper()
	var p *corev1.Pod
	eventually(s.t, 90*time.Second, fmt.Sprintf("pod %s/%s Ready", ns, name), func() bool {
		p = s.pod(ns, name)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	return p
}
