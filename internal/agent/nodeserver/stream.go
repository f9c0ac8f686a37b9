package nodeserver

import (
	"fmt"
	"net/http"
	"net/url"

	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// exec runs a command in a running container through the runtime's streaming server.
func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := remotecommandserver.NewOptions(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := s.runningContainer(r.Context(), ns, pod, container)
	if err != nil {
		s.writeError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: c.Id, Cmd: r.URL.Query()["command"],
		Tty: opts.TTY, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
	if err != nil {
		streaming.WriteError(err, w)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

// attach connects to the main process of a running container.
func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := remotecommandserver.NewOptions(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := s.runningContainer(r.Context(), ns, pod, container)
	if err != nil {
		s.writeError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: c.Id, Tty: opts.TTY, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
	if err != nil {
		streaming.WriteError(err, w)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

// portForward forwards connections to ports in the pod's network namespace; SPDY clients
// name each port in the headers of their streams.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	sb, err := s.sandbox(r.Context(), r.PathValue("namespace"), r.PathValue("pod"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sb.Id, Port: opts.Ports})
	if err != nil {
		streaming.WriteError(err, w)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

// proxyStream hands the caller's upgrade to the runtime's streaming server, as the kubelet
// does.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		s.writeError(w, fmt.Errorf("runtime returned streaming URL %q: %v", rawURL, err))
		return
	}
	proxy.NewUpgradeAwareHandler(u, nil, false, true, &responder{s}).ServeHTTP(w, r)
}

// responder answers a failed proxy attempt.
type responder struct{ s *Server }

func (p *responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.log.Error("proxy stream", "path", r.URL.Path, "err", err)
	writeText(w, http.StatusInternalServerError, err.Error())
}
