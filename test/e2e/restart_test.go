package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Killing the server (and its agent) with SIGKILL and starting it again adopts the running
// containers without restarting any; so does killing containerd, which the agent restarts.
func TestRestartsKeepContainers(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("restart")
	s.create(ns, testPod("steady", "serve"))
	before := s.waitReady(ns, "steady")
	id := before.Status.ContainerStatuses[0].ContainerID

	unchanged := func(when string) {
		t.Helper()
		p := s.waitReady(ns, "steady")
		cs := p.Status.ContainerStatuses[0]
		if cs.ContainerID != id || cs.RestartCount != 0 || p.Status.PodIP != before.Status.PodIP {
			t.Fatalf("%s: container %s restarts %d IP %s, want %s, 0, %s", when, cs.ContainerID, cs.RestartCount, p.Status.PodIP, id, before.Status.PodIP)
		}
		if body, err := get("http://" + p.Status.PodIP + ":8080/"); err != nil || strings.TrimSpace(body) != "steady" {
			t.Fatalf("%s: the pod answered %q, %v", when, body, err)
		}
	}
	// probe proves the agent is running pods again: a new pod starts and becomes Ready.
	probe := func(name string) {
		t.Helper()
		s.create(ns, testPod(name, "serve"))
		s.waitReady(ns, name)
	}

	s.kill9()
	s.start()
	s.waitNodeReady()
	probe("after-agent-restart")
	unchanged("after kill -9 of the server")

	pidFile := filepath.Join(s.dataDir, "containerd", "containerd.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("containerd pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill containerd: %v", err)
	}
	eventually(t, 30*time.Second, "a new containerd", func() bool {
		data, err := os.ReadFile(pidFile)
		return err == nil && strings.TrimSpace(string(data)) != strconv.Itoa(pid)
	})
	probe("after-containerd-restart")
	unchanged("after kill -9 of containerd")

	pods, err := s.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("pod %s container %s: restarts %d, state %+v", p.Name, cs.Name, cs.RestartCount, cs.State)
			}
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s is %s", p.Name, p.Status.Phase)
		}
	}
}
