package agent

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
	kubetypes "k8s.io/kubelet/pkg/types"
	"k8s.io/utils/ptr"
)

// noVolumes stands for the volume manager: these tests are about containers.
type noVolumes struct{}

func (noVolumes) Setup(context.Context, *corev1.Pod) error { return nil }
func (noVolumes) Mounts(*corev1.Pod, *corev1.Container, []*runtimeapi.KeyValue) ([]*runtimeapi.Mount, error) {
	return nil, nil
}
func (noVolumes) Teardown(types.UID) error { return nil }
func (noVolumes) ExceedsSizeLimit(*corev1.Pod) (string, bool, error) {
	return "", false, nil
}

type harness struct {
	t      *testing.T
	client *fake.Clientset
	rt     *critest.FakeRuntimeService
}

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, client: fake.NewClientset(), rt: critest.NewFakeRuntimeService()}
	a, err := New(Config{
		NodeName: "node-1", NodeIP: netip.MustParseAddr("127.0.0.1"), Root: t.TempDir(), Port: 10250,
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
		Client:   h.client, Runtime: h.rt, Images: critest.NewFakeImageService(), Volumes: noVolumes{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return h
}

func (h *harness) createPod(pod *corev1.Pod) {
	h.t.Helper()
	pod.Namespace = "default"
	pod.UID = types.UID("uid-" + pod.Name)
	pod.Spec.NodeName = "node-1"
	if _, err := h.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) pod(name string) *corev1.Pod {
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// exit makes the newest running container called name exit with code.
func (h *harness) exit(name string, code int32) {
	h.t.Helper()
	h.rt.Lock()
	defer h.rt.Unlock()
	for _, c := range h.rt.Containers {
		if c.Labels[kubetypes.KubernetesContainerNameLabel] == name && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			c.State, c.ExitCode, c.FinishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, code, time.Now().UnixNano()
			return
		}
	}
	h.t.Fatalf("no running container %s", name)
}

func (h *harness) running(name string) bool {
	h.rt.Lock()
	defer h.rt.Unlock()
	for _, c := range h.rt.Containers {
		if c.Labels[kubetypes.KubernetesContainerNameLabel] == name && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestNodeRegistration(t *testing.T) {
	h := start(t)
	eventually(t, "a Ready node", func() bool {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), "node-1", metav1.GetOptions{})
		return err == nil && len(n.Status.Conditions) == 4 && n.Status.Conditions[3].Status == corev1.ConditionTrue
	})
	n, _ := h.client.CoreV1().Nodes().Get(context.Background(), "node-1", metav1.GetOptions{})
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || n.Status.Addresses[0].Address != "127.0.0.1" {
		t.Errorf("endpoints %+v addresses %+v", n.Status.DaemonEndpoints, n.Status.Addresses)
	}
	if n.Labels[corev1.LabelHostname] != "node-1" || !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "fakeRuntime://") {
		t.Errorf("labels %v nodeInfo %+v", n.Labels, n.Status.NodeInfo)
	}
	eventually(t, "the node's lease", func() bool {
		l, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "node-1", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && *l.Spec.HolderIdentity == "node-1"
	})
}

// Init containers run first and one at a time; then the main container runs; a container
// that keeps failing is restarted at once, then backs off (CrashLoopBackOff); deleting the
// pod stops its containers and removes the pod.
func TestPodLifecycle(t *testing.T) {
	h := start(t)
	h.createPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			RestartPolicy:  corev1.RestartPolicyAlways,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox"}},
		},
	})
	eventually(t, "the init container running", func() bool { return h.running("init") })
	if h.running("app") {
		t.Fatal("the main container runs before the init container finished")
	}
	var p *corev1.Pod
	eventually(t, "the pod Pending and not Initialized", func() bool {
		p = h.pod("p")
		return p.Status.Phase == corev1.PodPending && podCondition(p, corev1.PodInitialized) == corev1.ConditionFalse
	})
	h.exit("init", 0)
	eventually(t, "the pod Running and Ready", func() bool {
		p = h.pod("p")
		return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady) == corev1.ConditionTrue
	})
	if p.Status.PodIP == "" || p.Status.QOSClass != corev1.PodQOSBestEffort || p.Status.StartTime == nil {
		t.Errorf("status %+v", p.Status)
	}
	if cs := p.Status.InitContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
		t.Errorf("init container status %+v", cs)
	}

	h.exit("app", 1)
	eventually(t, "a first restart", func() bool {
		cs := h.pod("p").Status.ContainerStatuses[0]
		return cs.RestartCount == 1 && cs.State.Running != nil
	})
	h.exit("app", 1)
	eventually(t, "CrashLoopBackOff", func() bool {
		cs := h.pod("p").Status.ContainerStatuses[0]
		w := cs.State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" &&
			w.Message == "back-off 10s restarting failed container=app pod=p_default(uid-p)" &&
			cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 1
	})

	p = h.pod("p")
	now := metav1.Now()
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, ptr.To[int64](1)
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod deleted", func() bool {
		_, err := h.client.CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	eventually(t, "the sandbox and containers removed", func() bool {
		h.rt.Lock()
		defer h.rt.Unlock()
		return len(h.rt.Sandboxes) == 0 && len(h.rt.Containers) == 0
	})
}

// restartPolicy Never: a failed container is not restarted and the pod fails.
func TestRestartPolicyNever(t *testing.T) {
	h := start(t)
	h.createPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "job", Image: "busybox"}},
		},
	})
	eventually(t, "the container running", func() bool { return h.running("job") })
	h.exit("job", 2)
	var p *corev1.Pod
	eventually(t, "the pod Failed", func() bool {
		p = h.pod("once")
		return p.Status.Phase == corev1.PodFailed
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 2 || cs.State.Terminated.Reason != "Error" {
		t.Errorf("container status %+v", cs)
	}
	if podCondition(p, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("a failed pod is Ready")
	}
}
