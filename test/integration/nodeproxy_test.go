package integration

import (
	"bufio"
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/nodeserver"
	"github.com/gantryhq/gantry/internal/agent/nodeserver/nodeservertest"
)

// fixedStats is a stats provider with fixed figures for node "agent-node" and pod default/web.
type fixedStats struct{}

func (fixedStats) Summary(context.Context) (*statsv1alpha1.Summary, error) {
	now := metav1.Now()
	container := func(name string, nanoCores, memory uint64) statsv1alpha1.ContainerStats {
		return statsv1alpha1.ContainerStats{Name: name,
			CPU:    &statsv1alpha1.CPUStats{Time: now, UsageNanoCores: ptr.To(nanoCores)},
			Memory: &statsv1alpha1.MemoryStats{Time: now, WorkingSetBytes: ptr.To(memory)}}
	}
	return &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: "agent-node",
			CPU:    &statsv1alpha1.CPUStats{Time: now, UsageNanoCores: ptr.To[uint64](500_000_000)},
			Memory: &statsv1alpha1.MemoryStats{Time: now, WorkingSetBytes: ptr.To[uint64](1 << 30)}},
		Pods: []statsv1alpha1.PodStats{{
			PodRef:     statsv1alpha1.PodReference{Name: "web", Namespace: "default"},
			Containers: []statsv1alpha1.ContainerStats{container("app", 100_000_000, 64<<20), container("side", 20_000_000, 16<<20)},
		}},
	}, nil
}

// agentPod starts a node server on a fake runtime, registers its node as an agent would, and
// makes the running pod default/web (containers app, restarted once, and side) on it.
func agentPod(t *testing.T, c *cluster) *nodeservertest.Runtime {
	t.Helper()
	ctx := context.Background()
	caPEM, err := os.ReadFile(filepath.Join(c.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	rt := nodeservertest.NewRuntime(t)
	srv, err := nodeserver.New(nodeserver.Config{Runtime: rt, Stats: fixedStats{}, ClientCAs: pool, CertDir: t.TempDir(),
		NodeName: "agent-node", NodeIPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("node server: %v", err)
		}
	})

	node, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-node"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = updateNode(ctx, c.client, node.Name, true, func(node *corev1.Node) {
		node.Status = corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "agent-node.invalid"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(ln.Addr().(*net.TCPAddr).Port)}},
			Capacity:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
			Allocatable:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	pod, err := c.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "agent-node", Containers: []corev1.Container{
			{Name: "app", Image: "localhost:5000/gantry/testserver:1"},
			{Name: "side", Image: "localhost:5000/gantry/testserver:1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	if _, err := c.client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	writeLog := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	running, exited := runtimeapi.ContainerState_CONTAINER_RUNNING, runtimeapi.ContainerState_CONTAINER_EXITED
	rt.AddSandbox("web-sandbox", "default", "web", string(pod.UID), 1)
	rt.AddContainer("app-0", "web-sandbox", "app", 0, exited, writeLog("app-0.log", "2026-01-01T00:00:00Z stdout F crashed"), 2)
	rt.AddContainer("app-1", "web-sandbox", "app", 1, running, writeLog("app-1.log",
		"2026-01-01T00:00:00Z stdout F one", "2026-01-01T00:00:01Z stderr F two", "2026-01-01T00:00:02Z stdout F three"), 3)
	rt.AddContainer("side-0", "web-sandbox", "side", 0, running, writeLog("side-0.log", "2026-01-01T00:00:00Z stdout F side car"), 3)
	return rt
}

func TestNodeProxyLogs(t *testing.T) {
	c := startCluster(t)
	rt := agentPod(t, c)
	ctx := context.Background()

	expectOutput(t, "logs web -c app", c.kubectl("logs", "web", "-c", "app"), "one\ntwo\nthree\n")
	expectOutput(t, "logs web -c app --tail=1", c.kubectl("logs", "web", "-c", "app", "--tail=1"), "three\n")
	expectOutput(t, "logs web -c app --previous", c.kubectl("logs", "web", "-c", "app", "--previous"), "crashed\n")
	out, code, _ := c.kubectlRun(time.Minute, nil, "logs", "web", "-c", "side", "--previous")
	expectOutput(t, "logs web -c side --previous", out, "Error from server (BadRequest): previous terminated container \"side\" in pod \"web\" not found\n")
	if code != 1 {
		t.Errorf("logs --previous without one: exit code %d, want 1", code)
	}

	t.Run("API errors", func(t *testing.T) {
		pods := c.client.CoreV1().Pods("default")
		_, err := pods.GetLogs("web", &corev1.PodLogOptions{}).Stream(ctx)
		if want := "a container name must be specified for pod web, choose one of: [app side]"; err == nil || err.Error() != want {
			t.Errorf("no container: %v, want %q", err, want)
		}
		_, err = pods.GetLogs("web", &corev1.PodLogOptions{Container: "nope"}).Stream(ctx)
		if want := "container nope is not valid for pod web"; err == nil || err.Error() != want {
			t.Errorf("unknown container: %v, want %q", err, want)
		}
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unscheduled"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if body, err := pods.GetLogs("unscheduled", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(body) != 0 {
			t.Errorf("pod on no node: %q, %v; want an empty log", body, err)
		}
	})

	t.Run("follow ends when the container exits", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out := &lockedBuffer{}
		cmd := gantryCmd(ctx, []string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, "kubectl", "logs", "-f", "web", "-c", "app")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		eventually(t, "the log so far", func() bool { return out.String() == "one\ntwo\nthree\n" })
		select {
		case err := <-exited:
			t.Fatalf("kubectl logs -f ended while the container runs: %v", err)
		default:
		}
		rt.SetState("app-1", runtimeapi.ContainerState_CONTAINER_EXITED)
		if err := <-exited; err != nil || ctx.Err() != nil {
			t.Errorf("kubectl logs -f after the container exited: %v (deadline: %v)\n%s", err, ctx.Err(), out.String())
		}
	})
}

func TestNodeProxyExec(t *testing.T) {
	c := startCluster(t)
	agentPod(t, c)
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"websocket", nil},
		{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.forTest(t)
			out, code, _ := c.kubectlRun(time.Minute, tt.env, "exec", "web", "-c", "app", "--", "echo", "hi")
			if code != 0 || out != "exec app-1: echo hi\n" {
				t.Errorf("exec: exit %d, %q", code, out)
			}
			out, code, _ = c.kubectlRun(time.Minute, tt.env, "exec", "web", "-c", "app", "--", "exit", "3")
			if code != 3 || out != "command terminated with exit code 3\n" {
				t.Errorf("exec exit 3: exit %d, %q", code, out)
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := gantryCmd(ctx, append([]string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, tt.env...), "kubectl", "exec", "-i", "web", "-c", "app", "--", "cat")
			cmd.Stdin = strings.NewReader("from stdin\n")
			stdinOut, err := cmd.CombinedOutput()
			if err != nil || string(stdinOut) != "exec app-1: cat\nfrom stdin\n" {
				t.Errorf("exec -i: %v, %q", err, stdinOut)
			}

			out, code, _ = c.kubectlRun(time.Minute, tt.env, "attach", "web", "-c", "side")
			if code != 0 || !strings.HasSuffix(out, "If you don't see a command prompt, try pressing enter.\nattached to side-0\n") {
				t.Errorf("attach: exit %d, %q", code, out)
			}
		})
	}
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:([0-9]+) -> 8080`)

func TestNodeProxyPortForward(t *testing.T) {
	c := startCluster(t)
	agentPod(t, c)
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"websocket", nil},
		{"spdy", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out := &lockedBuffer{}
			cmd := gantryCmd(ctx, append([]string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, tt.env...),
				"kubectl", "port-forward", "--address=127.0.0.1", "pod/web", ":8080")
			cmd.Stdout, cmd.Stderr = out, out
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cancel()
				cmd.Wait()
			}()
			var port string
			eventually(t, "kubectl port-forward listening", func() bool {
				m := forwarding.FindStringSubmatch(out.String())
				if m != nil {
					port = m[1]
				}
				return m != nil
			})
			conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			if line, err := r.ReadString('\n'); line != "web-sandbox:8080\n" || err != nil {
				t.Fatalf("first line %q, %v; want the pod's sandbox and port\nkubectl: %s", line, err, out.String())
			}
			conn.Write([]byte("ping\n"))
			if line, err := r.ReadString('\n'); line != "ping\n" || err != nil {
				t.Errorf("echo %q, %v", line, err)
			}
		})
	}
}

func TestNodeProxyNodesProxy(t *testing.T) {
	c := startCluster(t)
	agentPod(t, c)
	body, err := c.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/agent-node/proxy/stats/summary").DoRaw(context.Background())
	if err != nil || !strings.Contains(string(body), `"nodeName":"agent-node"`) {
		t.Errorf("nodes/proxy/stats/summary: %v\n%s", err, body)
	}
}

func TestNodeProxyTop(t *testing.T) {
	c := startCluster(t)
	agentPod(t, c)
	expectTable(t, c.kubectl("top", "node"), []string{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"},
		[]string{"agent-node", "500m", "25%", "1024Mi", "25%"})
	expectTable(t, c.kubectl("top", "pod"), []string{"NAME", "CPU(cores)", "MEMORY(bytes)"},
		[]string{"web", "120m", "80Mi"})
	expectTable(t, c.kubectl("top", "pod", "web", "--containers"), []string{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"},
		[]string{"web", "app", "100m", "64Mi"}, []string{"web", "side", "20m", "16Mi"})
	expectTable(t, c.kubectl("top", "pod", "-l", "app=web"), []string{"NAME", "CPU(cores)", "MEMORY(bytes)"},
		[]string{"web", "120m", "80Mi"})
	out, code, _ := c.kubectlRun(time.Minute, nil, "top", "pod", "-l", "app=other")
	if code != 0 || out != "No resources found in default namespace.\n" {
		t.Errorf("top pod with no match: exit %d, %q", code, out)
	}

	// A node whose agent does not answer is left out of the metrics, not an error: kubectl
	// shows it as <unknown>.
	ctx := context.Background()
	gone, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone-node"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = updateNode(ctx, c.client, gone.Name, true, func(gone *corev1.Node) {
		gone.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		gone.Status.DaemonEndpoints.KubeletEndpoint.Port = 1 // nothing listens there
	})
	if err != nil {
		t.Fatal(err)
	}
	expectTable(t, c.kubectl("top", "node"), []string{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"},
		[]string{"agent-node", "500m", "25%", "1024Mi", "25%"},
		[]string{"gone-node", "<unknown>", "<unknown>", "<unknown>", "<unknown>"})
}
