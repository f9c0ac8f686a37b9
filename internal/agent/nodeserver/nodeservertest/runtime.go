// Package nodeservertest provides a fake CRI runtime for tests of the node API: CRI's
// FakeRuntimeService for pods and containers, whose Exec, Attach and PortForward hand out
// URLs of a real cri-streaming server (the SPDY server containerd runs too) backed by a small
// scripted runtime.
package nodeservertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critesting "k8s.io/cri-api/pkg/apis/testing"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	kubetypes "k8s.io/kubelet/pkg/types"
	utilexec "k8s.io/utils/exec"
)

// Runtime is a fake CRI runtime with a working streaming server.
type Runtime struct {
	*critesting.FakeRuntimeService
	streaming streaming.Server
}

// NewRuntime starts the streaming server; it stops when the test ends.
func NewRuntime(t testing.TB) *Runtime {
	t.Helper()
	r := &Runtime{FakeRuntimeService: critesting.NewFakeRuntimeService()}
	ts := httptest.NewUnstartedServer(nil)
	cfg := streaming.DefaultConfig
	cfg.BaseURL = &url.URL{Scheme: "http", Host: ts.Listener.Addr().String(), Path: "/"}
	srv, err := streaming.NewServer(cfg, Scripted{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	r.streaming = srv
	return r
}

// Exec returns a streaming URL, as containerd does.
func (r *Runtime) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if _, err := r.FakeRuntimeService.Exec(ctx, req); err != nil {
		return nil, err
	}
	return r.streaming.GetExec(req)
}

// Attach returns a streaming URL, as containerd does.
func (r *Runtime) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if _, err := r.FakeRuntimeService.Attach(ctx, req); err != nil {
		return nil, err
	}
	return r.streaming.GetAttach(req)
}

// PortForward returns a streaming URL, as containerd does.
func (r *Runtime) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if _, err := r.FakeRuntimeService.PortForward(ctx, req); err != nil {
		return nil, err
	}
	return r.streaming.GetPortForward(req)
}

// AddSandbox records a ready sandbox of the pod namespace/name with uid, created at
// createdAt (nanoseconds; newer sandboxes of the same pod name win).
func (r *Runtime) AddSandbox(id, namespace, name, uid string, createdAt int64) {
	r.Lock()
	defer r.Unlock()
	r.Sandboxes[id] = &critesting.FakePodSandbox{PodSandboxStatus: runtimeapi.PodSandboxStatus{
		Id:        id,
		Metadata:  &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		State:     runtimeapi.PodSandboxState_SANDBOX_READY,
		CreatedAt: createdAt,
		Labels: map[string]string{
			kubetypes.KubernetesPodNamespaceLabel: namespace,
			kubetypes.KubernetesPodNameLabel:      name,
			kubetypes.KubernetesPodUIDLabel:       uid,
		},
	}}
}

// AddContainer records a container of sandbox with the labels the agent sets.
func (r *Runtime) AddContainer(id, sandbox, name string, attempt uint32, state runtimeapi.ContainerState, logPath string, createdAt int64) {
	r.Lock()
	defer r.Unlock()
	sb := r.Sandboxes[sandbox]
	labels := map[string]string{kubetypes.KubernetesContainerNameLabel: name}
	for k, v := range sb.Labels {
		labels[k] = v
	}
	r.Containers[id] = &critesting.FakeContainer{SandboxID: sandbox, ContainerStatus: runtimeapi.ContainerStatus{
		Id:        id,
		Metadata:  &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt},
		State:     state,
		CreatedAt: createdAt,
		Labels:    labels,
		LogPath:   logPath,
	}}
}

// SetState changes a container's state, as when it exits.
func (r *Runtime) SetState(id string, state runtimeapi.ContainerState) {
	r.Lock()
	defer r.Unlock()
	r.Containers[id].State = state
}

// Scripted is what runs behind the streaming server:
//   - exec writes "exec <container>: <command>" and a newline to stdout, then copies stdin to
//     stdout; the command "exit <n>" fails with exit code n instead;
//   - attach writes "attached to <container>" and copies stdin to stdout;
//   - port-forward writes "<sandbox>:<port>" and a newline, then echoes what it reads.
type Scripted struct{}

func (Scripted) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if len(cmd) == 2 && cmd[0] == "exit" {
		code, _ := strconv.Atoi(cmd[1])
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	}
	fmt.Fprintf(out, "exec %s: %s\n", id, strings.Join(cmd, " "))
	return copyIn(out, in)
}

func (Scripted) Attach(ctx context.Context, id string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	fmt.Fprintf(out, "attached to %s\n", id)
	return copyIn(out, in)
}

func (Scripted) PortForward(ctx context.Context, sandbox string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	fmt.Fprintf(stream, "%s:%d\n", sandbox, port)
	_, err := io.Copy(stream, stream)
	return err
}

func copyIn(out io.Writer, in io.Reader) error {
	if in == nil {
		return nil
	}
	if _, err := io.Copy(out, in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
