package nodeserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"github.com/gantryhq/gantry/internal/pki"
)

// restConfig is the API server's identity as a client-go configuration.
func (h *harness) restConfig() *rest.Config {
	h.t.Helper()
	certPEM, keyPEM, err := h.ca.IssueClient(pki.KubeletClientUser, []string{pki.GroupMasters}, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return &rest.Config{Host: h.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: certPEM, KeyData: keyPEM}}
}

func TestExec(t *testing.T) {
	h := start(t)
	logPod(t, h)
	run := func(query string, stdin string) (string, error) {
		u, _ := url.Parse(h.url + "/exec/default/web/app?" + query)
		ex, err := remotecommand.NewSPDYExecutor(h.restConfig(), http.MethodPost, u)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		opts := remotecommand.StreamOptions{Stdout: &out}
		if stdin != "" {
			opts.Stdin = strings.NewReader(stdin)
		}
		err = ex.StreamWithContext(context.Background(), opts)
		return out.String(), err
	}

	out, err := run("command=cat&command=-n&input=1&output=1", "hello\n")
	if want := "exec app-1: cat -n\nhello\n"; err != nil || out != want {
		t.Errorf("exec: %q, %v; want %q in the running container", out, err, want)
	}
	_, err = run("command=exit&command=3&output=1", "")
	var exitErr exec.CodeExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 3 {
		t.Errorf("exit 3: %v (%T), want exit code 3", err, err)
	}
	code, body := h.getText("/exec/default/web/app?command=ls")
	if want := "you must specify at least 1 of stdin, stdout, stderr"; code != http.StatusBadRequest || body != want {
		t.Errorf("no streams: %d %q, want 400 %q", code, body, want)
	}
	h.runtime.SetState("app-1", exited)
	code, body = h.getText("/exec/default/web/app?command=ls&output=1")
	if want := `container not found ("app")`; code != http.StatusNotFound || body != want {
		t.Errorf("exited container: %d %q, want 404 %q", code, body, want)
	}
}

func TestAttach(t *testing.T) {
	h := start(t)
	logPod(t, h)
	u, _ := url.Parse(h.url + "/attach/default/web/side?output=1")
	ex, err := remotecommand.NewSPDYExecutor(h.restConfig(), http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "attached to side-0\n" {
		t.Errorf("attach: %q, %v", out.String(), err)
	}
}

func TestPortForward(t *testing.T) {
	h := start(t)
	logPod(t, h)
	transport, upgrader, err := spdy.RoundTripperFor(h.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(h.url + "/portForward/default/web")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		<-done
	}()
	<-ready
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); line != "sandbox:8080\n" || err != nil {
		t.Fatalf("first line %q, %v; want the current sandbox and the port", line, err)
	}
	conn.Write([]byte("ping\n"))
	if line, err := r.ReadString('\n'); line != "ping\n" || err != nil {
		t.Errorf("echo %q, %v", line, err)
	}
}
