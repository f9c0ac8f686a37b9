package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	cri "k8s.io/cri-api/pkg/apis"
	utilexec "k8s.io/utils/exec"
)

// runHook runs a postStart or preStop handler of container id, giving up after timeout. It
// returns what the handler said, for the FailedPostStartHook/FailedPreStopHook event.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		stdout, stderr, err := a.rt.ExecSync(ctx, id, h.Exec.Command, timeout)
		if err != nil {
			msg := fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
				h.Exec.Command, c.Name, formatPod(pod), err, string(stdout)+string(stderr))
			return msg, err
		}
		return "", nil
	case h.HTTPGet != nil:
		u, err := a.hookURL(pod, c, h.HTTPGet)
		if err != nil {
			return err.Error(), err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err.Error(), err
		}
		for _, hdr := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hdr.Name, hdr.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			msg := fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, formatPod(pod), err)
			return msg, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			err := fmt.Errorf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - status %d", h.HTTPGet.Path, c.Name, formatPod(pod), resp.StatusCode)
			return err.Error(), err
		}
		return "", nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	return "", nil
}

// hookURL is where an httpGet handler sends its request: the pod's IP unless host is set.
func (a *Agent) hookURL(pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction) (*url.URL, error) {
	host := g.Host
	if host == "" {
		host = pod.Status.PodIP
		if pod.Spec.HostNetwork || host == "" {
			host = a.cfg.NodeIP.String()
		}
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}, nil
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}

// execProbe runs exec probes through CRI ExecSync.
type execProbe struct{ rt cri.RuntimeService }

func (e execProbe) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	stdout, stderr, err := e.rt.ExecSync(ctx, containerID, cmd, timeout)
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return stdout, stderr, exit.ExitStatus(), nil
	}
	if err != nil {
		return stdout, stderr, -1, err
	}
	return stdout, stderr, 0, nil
}
