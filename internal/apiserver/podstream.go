package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/proxy"
	translator "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/gantryhq/gantry/internal/auth/authz"
)

// podStream answers pods/exec, pods/attach and pods/portforward as kube-apiserver does: the
// SPDY upgrade is proxied to the pod's node agent as it is; a WebSocket request (kubectl's
// first try: v5.channel.k8s.io for exec and attach, SPDY tunnelled in WebSocket for
// port-forward) is translated here into SPDY toward the agent, which speaks only SPDY.
func (s *Server) podStream(w http.ResponseWriter, r *http.Request, q *request) {
	if q.info.Verb != "get" && q.info.Verb != "create" {
		s.writeError(w, r, methodNotAllowed(q))
		return
	}
	// A GET (the WebSocket upgrade) must be allowed to create too, as kube-apiserver checks
	// since AuthorizePodWebsocketUpgradeCreatePermission.
	if q.info.Verb == "get" {
		if err := s.authorizeVerb(r, q, "create"); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	sub := q.info.Subresource
	var opts runtime.Object
	switch sub {
	case "exec":
		opts = &api.PodExecOptions{}
	case "attach":
		opts = &api.PodAttachOptions{}
	default:
		opts = &api.PodPortForwardOptions{}
	}
	if err := legacyscheme.ParameterCodec.DecodeParameters(r.URL.Query(), corev1.SchemeGroupVersion, opts); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	pod, err := s.getPod(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	path := "/portForward/" + pod.Namespace + "/" + pod.Name
	params := url.Values{}
	var stream translator.Options
	switch o := opts.(type) {
	case *api.PodExecOptions:
		stream = translator.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.TTY}
		params["command"] = o.Command
		path, err = s.containerPath("exec", pod, o.Container)
	case *api.PodAttachOptions:
		stream = translator.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.TTY}
		path, err = s.containerPath("attach", pod, o.Container)
	case *api.PodPortForwardOptions:
		if len(o.Ports) > 0 {
			ports := make([]string, len(o.Ports))
			for i, p := range o.Ports {
				ports[i] = strconv.Itoa(int(p))
			}
			params.Set(api.PortHeader, strings.Join(ports, ","))
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for key, on := range map[string]bool{api.ExecStdinParam: stream.Stdin, api.ExecStdoutParam: stream.Stdout, api.ExecStderrParam: stream.Stderr, api.ExecTTYParam: stream.Tty} {
		if on {
			params.Set(key, "1")
		}
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	loc, err := s.nodeLocation(r.Context(), pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc.Path, loc.RawQuery = path, params.Encode()

	var handler http.Handler = proxy.NewUpgradeAwareHandler(loc, s.nodeTransport, false, true, upgradeResponder{s})
	if sub == "portforward" {
		handler = translator.NewTranslatingHandler(handler, translator.NewTunnelingHandler(handler), wsstream.IsWebSocketRequestWithTunnelingProtocol)
	} else {
		handler = translator.NewTranslatingHandler(handler, translator.NewStreamTranslatorHandler(loc, s.nodeTransport, 0, stream), wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	}
	handler.ServeHTTP(w, r)
}

// containerPath is the agent path of an exec or attach in a container of pod.
func (s *Server) containerPath(what string, pod *corev1.Pod, container string) (string, error) {
	name, err := podContainer(pod, container)
	if err != nil {
		return "", err
	}
	return "/" + what + "/" + pod.Namespace + "/" + pod.Name + "/" + name, nil
}

// authorizeVerb checks that the requester may also make the request with verb.
func (s *Server) authorizeVerb(r *http.Request, q *request, verb string) error {
	info, user := q.info, userFrom(r)
	a := authz.Attributes{
		User: user, Verb: verb, APIGroup: info.Group, Resource: info.Resource, Subresource: info.Subresource,
		Namespace: info.Namespace, Name: info.Name, ResourceRequest: true, Path: r.URL.Path,
	}
	decision, reason, err := s.cfg.Authorizer.Authorize(r.Context(), a)
	if err == nil && decision == authz.Allow {
		return nil
	}
	info.Verb = verb
	return forbidden(user, info, reason)
}
