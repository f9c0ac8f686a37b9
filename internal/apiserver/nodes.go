package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
)

// defaultNodePort is the agent port of a node that does not report one (kube-apiserver's
// --kubelet-port).
const defaultNodePort = 10250

// nodeAddressTypes is the order in which a node's addresses are tried. Unlike
// kube-apiserver's default (Hostname first) the InternalIP comes first: Gantry nodes report
// the address their agent listens on, and their host names need not resolve.
var nodeAddressTypes = []corev1.NodeAddressType{
	corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalIP, corev1.NodeExternalDNS,
}

// newNodeTransport is the transport to node agents: TLS with the server's kubelet-client
// certificate (tlsConfig), HTTP/1.1 only, since exec, attach and port-forward upgrade the
// connection. Nil when the server has no kubelet-client configuration.
func newNodeTransport(tlsConfig *tls.Config) *http.Transport {
	if tlsConfig == nil {
		return nil
	}
	tlsConfig = tlsConfig.Clone()
	tlsConfig.NextProtos = []string{"http/1.1"}
	return &http.Transport{
		TLSClientConfig:     tlsConfig,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 25,
	}
}

// nodeLocation is the base URL of the agent on node name: its preferred address and the port
// in status.daemonEndpoints.kubeletEndpoint.
func (s *Server) nodeLocation(ctx context.Context, name string) (*url.URL, error) {
	if s.nodeTransport == nil {
		return nil, apierrors.NewServiceUnavailable("the server has no client credentials for node agents")
	}
	obj, err := s.objects.get(ctx, s.kinds.byGVK[corev1.SchemeGroupVersion.WithKind("Node")], "", name)
	if err != nil {
		return nil, err
	}
	node := obj.(*corev1.Node)
	host := ""
	for _, t := range nodeAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = defaultNodePort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// nodeResponseError turns an agent's non-2xx answer into an API error, as kube-apiserver's
// GenericHttpResponseChecker does: the agent's text becomes the message.
func nodeResponseError(resp *http.Response, resource schema.GroupResource, name string) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	text := string(body)
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("%s", text))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", resource, name, text, 0, false)
}

// upgradeResponder answers a proxied request that failed before the agent answered.
type upgradeResponder struct {
	s *Server
}

var _ proxy.ErrorResponder = upgradeResponder{}

func (u upgradeResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	u.s.writeError(w, r, err)
}
