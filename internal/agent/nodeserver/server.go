package nodeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	cri "k8s.io/cri-api/pkg/apis"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// StatsProvider computes the node's resource usage for /stats/summary.
type StatsProvider interface {
	Summary(ctx context.Context) (*statsv1alpha1.Summary, error)
}

// Config is what a Server needs.
type Config struct {
	// Runtime is the CRI runtime the agent runs its pods with.
	Runtime cri.RuntimeService
	// Stats answers /stats/summary.
	Stats StatsProvider
	// ClientCAs verifies callers' certificates: the cluster CA, from the agent's kubeconfig.
	ClientCAs *x509.CertPool
	// CertDir holds the self-signed serving certificate (agent.crt, agent.key); it is made
	// on the first start and again when it is about to expire or lacks a name.
	CertDir string
	// NodeName and NodeIPs go into the serving certificate and into refusal messages.
	NodeName string
	NodeIPs  []net.IP
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server is the agent's HTTPS API.
type Server struct {
	cfg     Config
	cert    tls.Certificate
	log     *slog.Logger
	handler http.Handler
	// podTransport reaches pods for the API server's pods/proxy and services/proxy.
	podTransport *http.Transport
}

// New checks cfg and loads or makes the serving certificate.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Runtime == nil:
		return nil, errors.New("nodeserver: no runtime")
	case cfg.Stats == nil:
		return nil, errors.New("nodeserver: no stats provider")
	case cfg.ClientCAs == nil:
		return nil, errors.New("nodeserver: no client CAs")
	case cfg.CertDir == "":
		return nil, errors.New("nodeserver: no certificate directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cert, err := ensureServingCert(cfg.CertDir, cfg.NodeName, cfg.NodeIPs, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, cert: cert, log: cfg.Logger.With("component", "nodeserver"), podTransport: newPodTransport()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.containerLogs)
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", s.exec)
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", s.attach)
	mux.HandleFunc("/portForward/{namespace}/{pod}", s.portForward)
	mux.HandleFunc("GET /stats/summary", s.statsSummary)
	mux.HandleFunc("/podProxy/{scheme}/{ip}/{port}/{path...}", s.podProxy)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "ok") })
	s.handler = s.authorize(mux)
	return s, nil
}

// Serve serves HTTPS on ln until ctx ends. Requests see ctx's end too, so that followed logs
// and streams stop with the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s.handler,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.cert},
			// The certificate is checked in authorize, so that a wrong one gets a 401 Status
			// rather than a failed handshake.
			ClientAuth: tls.RequestClientCert,
			MinVersion: tls.VersionTLS12,
			// Exec, attach and port-forward are HTTP/1.1 upgrades.
			NextProtos: []string{"http/1.1"},
		},
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	err := srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return fmt.Errorf("serve node API: %w", err)
}

// authorize lets through callers whose certificate the cluster CA signed for the
// system:masters group: the API server's kubelet client.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		intermediates := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			intermediates.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.ClientCAs, Intermediates: intermediates,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
			return
		}
		if !slices.Contains(leaf.Subject.Organization, user.SystemPrivilegedGroup) {
			verb, resource := attributes(r)
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)", leaf.Subject.CommonName, verb, resource))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// attributes names a request as the kubelet's authorizer does: the verb from the method, the
// nodes subresource from the path.
func attributes(r *http.Request) (verb, subresource string) {
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	default:
		verb = "get"
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/stats/"):
		subresource = "stats"
	case r.URL.Path == "/healthz":
		subresource = "healthz"
	default:
		subresource = "proxy"
	}
	return verb, subresource
}

func (s *Server) statsSummary(w http.ResponseWriter, r *http.Request) {
	summary, err := s.cfg.Stats.Summary(r.Context())
	if err != nil {
		s.log.Error("stats summary", "err", err)
		writeText(w, http.StatusInternalServerError, "Internal Error: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(summary)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: message,
	})
}

// writeText answers as the kubelet does on errors: plain text, which the API server turns
// into a Status carrying the text as its message.
func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, text)
}
