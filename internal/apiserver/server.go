// Package apiserver serves the Kubernetes REST API over a storage.Store: routing, content
// negotiation, the generic REST handler every kind shares, watch fan-out, patches, discovery,
// tables and subresources. What differs between kinds lives in internal/registry.
package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"
	schedulingapiv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"

	"github.com/gantryhq/gantry/internal/apiserver/admission"
	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/auth/authz"
	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

// Authenticator says who sent a request: ok is false for a request without credentials, and
// an error means the credentials were wrong.
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (user *authn.User, ok bool, err error)
}

// Authorizer decides whether a user may make a request.
type Authorizer interface {
	Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error)
}

// Config is what a Server needs.
type Config struct {
	Store  storage.Store
	Kinds  []*registry.Kind
	Scheme *runtime.Scheme
	Codecs serializer.CodecFactory
	// ServiceCIDR is the range cluster IPs come from; its first address is the kubernetes
	// service's.
	ServiceCIDR   netip.Prefix
	Authenticator Authenticator
	Authorizer    Authorizer
	// TypeConverter knows the structure of every kind, for managedFields and server-side apply.
	TypeConverter managedfields.TypeConverter
	// OpenAPI serves /openapi/v2 and /openapi/v3.
	OpenAPI http.Handler
	Version version.Info
	// ExternalAddress is the host:port clients reach the server at.
	ExternalAddress string
	// KubernetesPort is the port the kubernetes service forwards to.
	KubernetesPort int32
	// NodeClientTLS is how the server calls node agents (pods/log, exec, attach,
	// portforward, nodes/proxy, metrics.k8s.io): the kubelet-client certificate. As
	// kube-apiserver without --kubelet-certificate-authority, it need not verify the agents'
	// self-signed serving certificates (InsecureSkipVerify). Nil turns those requests into
	// 503s.
	NodeClientTLS *tls.Config
	// BootstrapObjects are created by Bootstrap unless they exist (the join token's Secret).
	// Each must carry its apiVersion and kind.
	BootstrapObjects []runtime.Object
}

// systemUser is who the server's own writes are made as.
var systemUser = userInfo{name: "system:apiserver", groups: []string{"system:masters"}}

// Server is the API server's HTTP handler.
type Server struct {
	cfg       Config
	codecs    *codecs
	objects   *objects
	hubs      *hubs
	alloc     *allocator
	admission admission.Chain
	discovery *discovery
	kinds     kindIndex
	metrics   *metrics
	fields    *fieldManagers
	ready     atomic.Bool
	// nodeTransport reaches node agents; nil without Config.NodeClientTLS.
	nodeTransport *http.Transport
}

type kindIndex struct {
	byGVR map[schema.GroupVersionResource]*registry.Kind
	byGVK map[schema.GroupVersionKind]*registry.Kind
}

// New builds a Server. ctx bounds the watch hubs' lifetime.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if !cfg.ServiceCIDR.IsValid() {
		return nil, fmt.Errorf("service CIDR is not set")
	}
	c := newCodecs(cfg.Scheme, cfg.Codecs)
	objs := &objects{store: cfg.Store, codecs: c}
	s := &Server{
		cfg:       cfg,
		codecs:    c,
		objects:   objs,
		hubs:      &hubs{ctx: ctx, objects: objs, byKind: map[*registry.Kind]*hub{}},
		alloc:     &allocator{store: cfg.Store, cidr: cfg.ServiceCIDR.Masked(), portBase: nodePortBase, portSize: nodePortSize},
		discovery: newDiscovery(cfg.Kinds, cfg.ExternalAddress),
		kinds:     kindIndex{byGVR: map[schema.GroupVersionResource]*registry.Kind{}, byGVK: map[schema.GroupVersionKind]*registry.Kind{}},
		metrics:   newMetrics(),
		fields:    &fieldManagers{converter: cfg.TypeConverter, scheme: cfg.Scheme, byKind: map[fieldManagerKey]*managedfields.FieldManager{}},

		nodeTransport: newNodeTransport(cfg.NodeClientTLS),
	}
	for _, k := range cfg.Kinds {
		s.kinds.byGVR[k.GroupVersionResource()] = k
		s.kinds.byGVK[k.GroupVersionKind] = k
	}
	stored := admissionObjects{s}
	// Kubernetes' order: mutating plugins run in this order, then validating ones.
	s.admission = admission.Chain{
		&admission.NamespaceLifecycle{Namespaces: s},
		&admission.LimitRanger{Objects: stored},
		&admission.Priority{Objects: stored},
		admission.DefaultTolerationSeconds{},
		&admission.DefaultStorageClass{Objects: stored},
		admission.NewResourceQuota(stored),
	}
	return s, nil
}

// GetNamespace reads a namespace; admission plugins use it.
func (s *Server) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := s.objects.get(ctx, s.kinds.byGVK[corev1.SchemeGroupVersion.WithKind("Namespace")], "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

// Bootstrap makes the objects every cluster has: the built-in namespaces, the kubernetes
// service and the system PriorityClasses. It also frees service allocations a crash left
// behind. The server reports ready once it is done.
func (s *Server) Bootstrap(ctx context.Context) error {
	if err := s.repairAllocations(ctx); err != nil {
		return fmt.Errorf("repair service allocations: %w", err)
	}
	nsKind := s.kinds.byGVK[corev1.SchemeGroupVersion.WithKind("Namespace")]
	system := writeOptions{user: systemUser, manager: "gantry-apiserver"}
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.createObject(ctx, nsKind, ns, system); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	svcKind := s.kinds.byGVK[serviceGVK]
	for _, svc := range s.builtinServices() {
		if _, err := s.objects.get(ctx, svcKind, svc.Namespace, svc.Name); apierrors.IsNotFound(err) {
			if _, err := s.createObject(ctx, svcKind, svc, system); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
		} else if err != nil {
			return fmt.Errorf("read service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
	}
	pcKind := s.kinds.byGVK[schedulingv1.SchemeGroupVersion.WithKind("PriorityClass")]
	for _, pc := range schedulingapiv1.SystemPriorityClasses() {
		if _, err := s.createObject(ctx, pcKind, pc, system); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	for _, obj := range s.cfg.BootstrapObjects {
		gvk := obj.GetObjectKind().GroupVersionKind()
		kind, ok := s.kinds.byGVK[gvk]
		m, err := meta.Accessor(obj)
		if !ok || err != nil {
			return fmt.Errorf("bootstrap object of kind %s is not served", gvk)
		}
		if _, err := s.createObject(ctx, kind, obj.DeepCopyObject(), system); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s/%s: %w", kind.Resource, m.GetNamespace(), m.GetName(), err)
		}
	}
	s.ready.Store(true)
	return nil
}

// builtinServices are the services every cluster has: `kubernetes` on the first service
// address, and the cluster DNS `kube-system/kube-dns` on the tenth, as kubeadm places it.
// Every node agent answers DNS on that address itself, so the DNS service has no selector
// and no endpoints; agents find the address by reading it.
func (s *Server) builtinServices() []*corev1.Service {
	first := s.cfg.ServiceCIDR.Masked().Addr().Next()
	dns := first
	for range 9 {
		dns = dns.Next()
	}
	return []*corev1.Service{{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: first.String(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(s.cfg.KubernetesPort)}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: DNSService, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: dns.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}}
}

// DNSService is the name of the cluster DNS service in kube-system.
const DNSService = "kube-dns"

// Handler is the whole API: the request chain in front of the routes.
func (s *Server) Handler() http.Handler {
	return s.recover(s.instrument(s.authenticate(s.authorize(http.HandlerFunc(s.route)))))
}

// route dispatches a request that passed authentication and authorization.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/version":
		s.writeJSON(w, http.StatusOK, s.cfg.Version)
		return
	case path == "/healthz" || path == "/livez" || strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/"):
		writeText(w, http.StatusOK, "ok")
		return
	case path == "/readyz" || strings.HasPrefix(path, "/readyz/"):
		if !s.ready.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ready: bootstrap is not finished")
			return
		}
		writeText(w, http.StatusOK, "ok")
		return
	case path == "/metrics":
		s.metrics.handler.ServeHTTP(w, r)
		return
	case strings.HasPrefix(path, "/debug/pprof/"):
		// Go's profiler, for authorized users only, as kube-apiserver's --profiling serves it.
		servePprof(w, r)
		return
	case strings.HasPrefix(path, "/openapi/"):
		if s.cfg.OpenAPI != nil {
			s.cfg.OpenAPI.ServeHTTP(w, r)
			return
		}
	}
	info := requestInfoFrom(r)
	if !info.IsResource || info.Resource == "" {
		if r.Method == http.MethodGet && s.discovery.serve(w, r) {
			return
		}
		s.writeError(w, r, notFound())
		return
	}
	if info.Group == metricsGV.Group {
		s.serveMetrics(w, r, info)
		return
	}
	kind, ok := s.kinds.byGVR[schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource}]
	if !ok || (!kind.Namespaced && info.Namespace != "") {
		s.writeError(w, r, notFound())
		return
	}
	out, err := s.codecs.negotiate(r, resourceEndpoint{}, info.Verb == "watch")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u := userFrom(r)
	q := &request{info: info, kind: kind, user: userInfo{name: u.Name, groups: u.Groups}, out: out}
	s.serveResource(w, r, q)
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, q *request) {
	sub := q.info.Subresource
	if sub != "" && !q.kind.HasSubresource(sub) || q.info.Subpath != "" && sub != "proxy" {
		s.writeError(w, r, notFound())
		return
	}
	switch sub {
	case "":
		switch q.info.Verb {
		case "get":
			s.get(w, r, q)
		case "list":
			s.list(w, r, q)
		case "watch":
			s.watch(w, r, q)
		case "create":
			if q.info.Name != "" {
				s.writeError(w, r, methodNotAllowed(q))
				return
			}
			s.create(w, r, q)
		case "update":
			s.update(w, r, q)
		case "patch":
			s.patch(w, r, q)
		case "delete":
			s.delete(w, r, q)
		case "deletecollection":
			s.deleteCollection(w, r, q)
		default:
			s.writeError(w, r, methodNotAllowed(q))
		}
	case "status", "approval":
		switch q.info.Verb {
		case "get":
			s.get(w, r, q)
		case "update":
			s.update(w, r, q)
		case "patch":
			s.patch(w, r, q)
		default:
			s.writeError(w, r, methodNotAllowed(q))
		}
	case "scale":
		switch q.info.Verb {
		case "get", "update", "patch":
			s.scale(w, r, q)
		default:
			s.writeError(w, r, methodNotAllowed(q))
		}
	case "finalize":
		if q.info.Verb != "update" {
			s.writeError(w, r, methodNotAllowed(q))
			return
		}
		s.finalize(w, r, q)
	case "binding", "eviction":
		if q.info.Verb != "create" {
			s.writeError(w, r, methodNotAllowed(q))
			return
		}
		if sub == "binding" {
			s.bind(w, r, q)
		} else {
			s.evict(w, r, q)
		}
	case "log":
		s.podLog(w, r, q)
	case "exec", "attach", "portforward":
		s.podStream(w, r, q)
	case "proxy":
		switch q.kind.Resource {
		case "pods":
			s.podProxy(w, r, q)
		case "services":
			s.serviceProxy(w, r, q)
		default:
			s.nodeProxy(w, r, q)
		}
	}
}

func notFound() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
	}}
}

func methodNotAllowed(q *request) error {
	return apierrors.NewMethodNotSupported(q.kind.GroupVersionResource().GroupResource(), q.info.Verb)
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(mustJSON(v))
}

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, text)
}

// recover turns a panic in a handler into a 500 Status instead of a dropped connection.
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("%v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
