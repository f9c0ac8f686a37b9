package apiserver

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
)

// podProxy serves /api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy/{path}: the
// request goes to the pod's address as in kube-apiserver, but through the agent of the pod's
// node, since the server need not be on the pod network.
func (s *Server) podProxy(w http.ResponseWriter, r *http.Request, q *request) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(q.info.Name)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", q.info.Name)))
		return
	}
	obj, err := s.objects.get(r.Context(), q.kind, q.info.Namespace, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	if port == "" {
		// As upstream: the first port a container declares.
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	if pod.Status.PodIP == "" || pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no address yet", name)))
		return
	}
	if port == "" {
		port = "80"
	}
	s.proxyThroughNode(w, r, q, pod.Spec.NodeName, scheme, pod.Status.PodIP, port)
}

// serviceProxy serves /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}
// at a ready endpoint of the service's port (by name or number), through that endpoint's node.
func (s *Server) serviceProxy(w http.ResponseWriter, r *http.Request, q *request) {
	scheme, name, portID, ok := utilnet.SplitSchemeNamePort(q.info.Name)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid service request %q", q.info.Name)))
		return
	}
	obj, err := s.objects.get(r.Context(), s.kinds.byGVK[serviceGVK], q.info.Namespace, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	svc := obj.(*corev1.Service)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("externalName services cannot be proxied: %s", name)))
		return
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if portID == "" && i == 0 || p.Name == portID || strconv.Itoa(int(p.Port)) == portID {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %q found for service %q", portID, name)))
		return
	}
	obj, err = s.objects.get(r.Context(), s.kinds.byGVK[corev1.SchemeGroupVersion.WithKind("Endpoints")], q.info.Namespace, name)
	if err != nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name)))
		return
	}
	type target struct{ node, ip string }
	var targets []target
	var targetPort int32
	for _, ss := range obj.(*corev1.Endpoints).Subsets {
		for _, p := range ss.Ports {
			if p.Name != sp.Name {
				continue
			}
			for _, a := range ss.Addresses {
				if a.NodeName != nil {
					targets = append(targets, target{*a.NodeName, a.IP})
					targetPort = p.Port
				}
			}
		}
	}
	if len(targets) == 0 {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name)))
		return
	}
	t := targets[rand.IntN(len(targets))]
	s.proxyThroughNode(w, r, q, t.node, scheme, t.ip, strconv.Itoa(int(targetPort)))
}

// proxyThroughNode forwards the request's subpath to scheme://ip:port through node's agent.
func (s *Server) proxyThroughNode(w http.ResponseWriter, r *http.Request, q *request, node, scheme, ip, port string) {
	if q.info.Subpath == "" && !strings.HasSuffix(r.URL.Path, "/") {
		// As kube-apiserver: .../proxy is the root of the target, whose relative links need
		// the trailing slash.
		to := r.URL.Path + "/"
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
		return
	}
	loc, err := s.nodeLocation(r.Context(), node)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if scheme == "" {
		scheme = "http"
	}
	sub := q.info.Subpath
	if strings.HasSuffix(r.URL.Path, "/") && sub != "" {
		sub += "/"
	}
	loc.Path = path.Join("/podProxy", scheme, ip, port) + "/" + sub
	loc.RawQuery = r.URL.RawQuery
	proxy.NewUpgradeAwareHandler(loc, s.nodeTransport, false, false, upgradeResponder{s}).ServeHTTP(w, r)
}
