package probe

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// userAgent is what HTTP and gRPC probes identify as: the kubelet's, for the Kubernetes
// version Gantry speaks.
const userAgent = "kube-probe/1.37"

// maxOutput bounds how much of a probe's response or output is read (the kubelet's 10 KiB).
const maxOutput = 10 << 10

// retries is how often a probe that errors is run again before its error is reported.
const retries = 3

// outcome is one probe run as a handler sees it: warned is a success with a message worth
// an event (an HTTP redirect not followed); undecided goes with an error.
type outcome int

const (
	undecided outcome = iota
	passed
	warned
	failed
)

// handler runs one probe against one container.
type handler func(ctx context.Context, timeout time.Duration) (outcome, string, error)

// probe runs w's probe once and records its events as the kubelet does. It returns unknown
// when the probe could not run (an error): that counts towards no threshold.
func (m *Manager) probe(ctx context.Context, w *worker, podIP string) result {
	h, err := m.handler(w, podIP)
	var out outcome
	var output string
	if err == nil {
		timeout := w.seconds(orDefault(w.spec.TimeoutSeconds, 1))
		for range retries {
			if out, output, err = h(ctx, timeout); err == nil || ctx.Err() != nil {
				break
			}
		}
	}
	ref := containerRef(w.pod, w.container)
	switch {
	case ctx.Err() != nil:
		return unknown
	case err != nil:
		slog.Debug("probe errored", "pod", w.pod.Namespace+"/"+w.pod.Name, "container", w.container.Name, "kind", w.kind, "err", err)
		state := "unknown"
		if out == failed {
			state = "failure"
		}
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Unhealthy", "%s probe errored and resulted in %s state: %s", w.kind, state, err)
		return unknown
	case out == failed:
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", w.kind, output)
		return failure
	case out == warned:
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "ProbeWarning", "%s probe warning: %s", w.kind, output)
	}
	return success
}

// handler picks the handler of w's probe.
func (m *Manager) handler(w *worker, podIP string) (handler, error) {
	p, c := w.spec, w.container
	switch {
	case p.Exec != nil:
		return m.execHandler(w.containerID, expandCommand(p.Exec.Command, c.Env)), nil
	case p.HTTPGet != nil:
		req, err := httpRequest(p.HTTPGet, c, podIP)
		if err != nil {
			return nil, err
		}
		return httpHandler(req), nil
	case p.TCPSocket != nil:
		port, err := containerPort(p.TCPSocket.Port, c)
		if err != nil {
			return nil, err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		return tcpHandler(host, port), nil
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return grpcHandler(podIP, int(p.GRPC.Port), service), nil
	}
	return nil, fmt.Errorf("missing probe handler for %s_%s(%s):%s", w.pod.Name, w.pod.Namespace, w.pod.UID, c.Name)
}

// containerPort resolves a probe's port, a number or the name of one of c's ports.
func containerPort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := p.IntValue()
	if p.Type == intstr.String {
		port = 0
		found := false
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				port, found = int(cp.ContainerPort), true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("port %q not found", p.StrVal)
		}
	}
	if port <= 0 || port >= 65536 {
		return 0, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

// containerRef is the object probe events refer to: the pod, with the container's field
// path, as the kubelet reports them.
func containerRef(pod *corev1.Pod, c *corev1.Container) *corev1.ObjectReference {
	path := fmt.Sprintf("spec.containers{%s}", c.Name)
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			path = fmt.Sprintf("spec.initContainers{%s}", c.Name)
		}
	}
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: path,
	}
}
