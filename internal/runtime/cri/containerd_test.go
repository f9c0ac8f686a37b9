package cri

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantryhq/gantry/internal/network/cni"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	kubetypes "k8s.io/kubelet/pkg/types"
)

// orphanEnv makes the test binary act as an agent that starts containerd and is then killed
// with SIGKILL, leaving containerd behind: the value is the ContainerdConfig as JSON.
const orphanEnv = "GANTRY_CRI_TEST_ORPHAN_AGENT"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(orphanEnv); cfg != "" {
		runOrphanAgent(cfg)
	}
	os.Exit(m.Run())
}

func runOrphanAgent(cfgJSON string) {
	var cfg ContainerdConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := StartContainerd(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(c.PID())
	select {} // until killed
}

const (
	testBridge  = "gtest0"
	pauseImage  = "localhost:5000/gantrytest/pause:1"
	serverImage = "docker.io/gantrytest/server:1" // served through the "*" mirror
	greeting    = "hello from a gantry pod"
)

// TestContainerd runs a pod through the supervised containerd and the CRI API, crashes and
// restarts containerd under it in the three ways an agent meets (containerd dies, the agent
// stops and starts again, the agent is killed and starts again) and checks that the pod runs on
// untouched each time.
func TestContainerd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	reg := startRegistry(t)
	reg.push(t, "pause", "gantrytest/pause:1")
	reg.push(t, "server", "gantrytest/server:1")

	dir := t.TempDir()
	cfg := ContainerdConfig{
		Dir:          filepath.Join(dir, "containerd"),
		SandboxImage: pauseImage,
		CNIConfDir:   filepath.Join(dir, "cni", "net.d"),
		Mirrors: map[string][]string{
			"localhost:5000": {"http://" + reg.host},
			"*":              {"http://" + reg.host},
		},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if err := cni.WriteConfig(cfg.CNIConfDir, cni.Config{
		PodCIDR:     netip.MustParsePrefix("100.64.250.0/24"),
		Bridge:      testBridge,
		IPAMDataDir: filepath.Join(cfg.Dir, "ipam"),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", testBridge).Run() })

	var current *Containerd
	t.Cleanup(func() {
		if current != nil {
			current.Stop()
		}
		removeAllPods(t, cfg)
	})

	began := time.Now()
	c, err := StartContainerd(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	current = c
	t.Logf("containerd answered CRI Version %v after start", time.Since(began).Round(time.Millisecond))
	if !strings.HasPrefix(c.Endpoint(), "unix://"+cfg.Dir) {
		t.Errorf("Endpoint() = %q, want the socket in %s", c.Endpoint(), cfg.Dir)
	}
	rs, is, err := Connect(ctx, c.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	version, err := rs.Version(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if version.RuntimeName != "containerd" || version.RuntimeApiVersion != "v1" {
		t.Errorf("Version = %s %s, want containerd v1", version.RuntimeName, version.RuntimeApiVersion)
	}
	t.Logf("containerd idle: %s", rssOf(t, c.PID()))

	// Pulls go through the mirrors: localhost:5000 by name, docker.io by "*".
	for _, image := range []string{pauseImage, serverImage} {
		if _, err := is.PullImage(ctx, &runtimeapi.ImageSpec{Image: image}, nil, nil); err != nil {
			t.Fatalf("PullImage %s: %v", image, err)
		}
	}
	if !reg.served("gantrytest/pause", "localhost:5000") || !reg.served("gantrytest/server", "docker.io") {
		t.Errorf("the test registry did not serve the pulls through the mirrors; manifest requests: %v", reg.manifests)
	}

	sandboxConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "0d0c5e5e-1111-4a4a-8b8b-000000000001"},
		Hostname:     "web",
		LogDirectory: filepath.Join(dir, "logs", "default_web_0d0c5e5e"),
		Labels: map[string]string{
			kubetypes.KubernetesPodNameLabel:      "web",
			kubetypes.KubernetesPodNamespaceLabel: "default",
			kubetypes.KubernetesPodUIDLabel:       "0d0c5e5e-1111-4a4a-8b8b-000000000001",
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{},
	}
	podID, err := rs.RunPodSandbox(ctx, sandboxConfig, "")
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	podStatus, err := rs.PodSandboxStatus(ctx, podID, false)
	if err != nil {
		t.Fatal(err)
	}
	podIP, err := netip.ParseAddr(podStatus.GetStatus().GetNetwork().GetIp())
	if err != nil || !netip.MustParsePrefix("100.64.250.0/24").Contains(podIP) || podIP == netip.MustParseAddr("100.64.250.1") {
		t.Fatalf("pod IP %q, want a pod address in 100.64.250.0/24", podStatus.GetStatus().GetNetwork().GetIp())
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "ipam", cni.NetworkName, podIP.String())); err != nil {
		t.Errorf("host-local did not record the pod IP in the IPAM data dir: %v", err)
	}

	containerID, err := rs.CreateContainer(ctx, podID, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "server"},
		Image:    &runtimeapi.ImageSpec{Image: serverImage},
		Envs:     []*runtimeapi.KeyValue{{Key: "MESSAGE", Value: []byte(greeting)}},
		Labels: map[string]string{
			kubetypes.KubernetesPodNameLabel:       "web",
			kubetypes.KubernetesPodNamespaceLabel:  "default",
			kubetypes.KubernetesPodUIDLabel:        "0d0c5e5e-1111-4a4a-8b8b-000000000001",
			kubetypes.KubernetesContainerNameLabel: "server",
		},
		LogPath: "server/0.log",
	}, sandboxConfig)
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := rs.StartContainer(ctx, containerID); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	url := "http://" + netip.AddrPortFrom(podIP, 8080).String() + "/"
	expectAnswer(t, url)

	status, err := rs.ContainerStatus(ctx, containerID, false)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(sandboxConfig.LogDirectory, "server", "0.log")
	if status.GetStatus().GetLogPath() != logPath {
		t.Errorf("LogPath = %q, want %q", status.GetStatus().GetLogPath(), logPath)
	}
	logLine := regexp.MustCompile(`^\S+ stdout F listening on :8080\n$`)
	eventually(t, "the container's stdout in "+logPath+" in the CRI log format", func() bool {
		data, err := os.ReadFile(logPath)
		return err == nil && logLine.Match(data)
	})

	shims := shimsOf(t, cfg)
	if len(shims) != 1 {
		t.Fatalf("%d shims run for containerd %s, want 1 for the pod", len(shims), cfg.Dir)
	}
	t.Logf("pod's shim: %s", rssOf(t, shims[0]))

	stdout, stderr, err := rs.ExecSync(ctx, containerID, []string{"/server", "echo", "exec", "works"}, 10*time.Second)
	if err != nil || string(stdout) != "exec works\n" {
		t.Errorf("ExecSync = %q, %q, %v; want stdout \"exec works\\n\"", stdout, stderr, err)
	}

	// containerd dies: the supervisor starts it again and the pod runs on.
	killed := c.PID()
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "containerd restarted", func() bool { return c.Restarts() == 1 && c.PID() != 0 && c.PID() != killed })
	expectRunning(ctx, t, rs, podID, containerID)
	expectSameShims(t, cfg, shims)
	expectAnswer(t, url)

	// The agent stops and starts again: the new containerd adopts the pod.
	restarted := c.PID()
	c.Stop()
	current = nil
	if alive(restarted) || c.PID() != 0 {
		t.Errorf("containerd %d still runs after Stop", restarted)
	}
	expectAnswer(t, url) // no containerd at all now
	if c, err = StartContainerd(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	current = c
	expectRunning(ctx, t, rs, podID, containerID)
	expectSameShims(t, cfg, shims)
	expectAnswer(t, url)
	c.Stop()
	current = nil

	// The agent is killed with SIGKILL after starting containerd: the next start stops the
	// containerd it left behind, starts its own with the current config and adopts the pod.
	orphan := startOrphan(t, cfg)
	if c, err = StartContainerd(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	current = c
	if alive(orphan) {
		t.Errorf("containerd %d left by the killed agent still runs", orphan)
	}
	if c.PID() == orphan {
		t.Errorf("StartContainerd kept the orphaned containerd %d", orphan)
	}
	expectRunning(ctx, t, rs, podID, containerID)
	expectSameShims(t, cfg, shims)
	expectAnswer(t, url)

	if err := rs.StopPodSandbox(ctx, podID); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if err := rs.RemovePodSandbox(ctx, podID); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	if pods, err := rs.ListPodSandbox(ctx, nil); err != nil || len(pods) != 0 {
		t.Errorf("ListPodSandbox after removal = %v, %v; want none", pods, err)
	}
	c.Stop()
	current = nil
}

// expectAnswer polls url from the host until the test server in the pod answers the greeting.
func expectAnswer(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get(url)
		var last string
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == greeting+"\n" {
				return
			}
			last = fmt.Sprintf("%s %q", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %s; want 200 %q", url, last, greeting)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectRunning waits for the runtime to answer and checks the pod and its container run as before.
func expectRunning(ctx context.Context, t *testing.T, rs internalapi.RuntimeService, podID, containerID string) {
	t.Helper()
	eventually(t, "CRI answers", func() bool { _, err := rs.Version(ctx, "v1"); return err == nil })
	pods, err := rs.ListPodSandbox(ctx, nil)
	if err != nil || len(pods) != 1 || pods[0].Id != podID || pods[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("ListPodSandbox = %v, %v; want only %s, ready", pods, err, podID)
	}
	containers, err := rs.ListContainers(ctx, nil)
	if err != nil || len(containers) != 1 || containers[0].Id != containerID || containers[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("ListContainers = %v, %v; want only %s, running", containers, err, containerID)
	}
}

// shimsOf returns the pids of the containerd-shim-runc-v2 processes of the containerd over cfg.
func shimsOf(t *testing.T, cfg ContainerdConfig) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.HasSuffix(args[0], "containerd-shim-runc-v2") && slices.Contains(args, cfg.socketPath()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// expectSameShims checks that the shims holding the containers are the very processes of before.
func expectSameShims(t *testing.T, cfg ContainerdConfig, want []int) {
	t.Helper()
	if got := shimsOf(t, cfg); !slices.Equal(got, want) {
		t.Errorf("shims %v, want the same %v as before", got, want)
	}
}

// startOrphan runs an agent (this test binary) that starts containerd over cfg, kills it with
// SIGKILL and returns the pid of the containerd it leaves behind.
func startOrphan(t *testing.T, cfg ContainerdConfig) int {
	t.Helper()
	cfg.Logger = nil
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(os.Args[0])
	agent.Env = append(os.Environ(), orphanEnv+"="+string(cfgJSON))
	agent.Stderr = t.Output()
	out, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err := agent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = agent.Wait()
	if err != nil {
		t.Fatalf("the agent to be killed did not start containerd: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !alive(pid) {
		t.Fatalf("the killed agent's containerd (%q) does not run", line)
	}
	return pid
}

// removeAllPods removes every pod sandbox of the containerd over cfg, so a failed test leaves
// no containers or network behind.
func removeAllPods(t *testing.T, cfg ContainerdConfig) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := StartContainerd(ctx, cfg)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Stop()
	rs, _, err := Connect(ctx, c.Endpoint())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	pods, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, pod := range pods {
		if err := rs.StopPodSandbox(ctx, pod.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := rs.RemovePodSandbox(ctx, pod.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func rssOf(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return "VmRSS unknown"
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
