// Package app assembles Gantry's components into the roles a process plays. It is the only
// place that wires them together; internal/cli calls it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/pkg/capabilities"

	"github.com/gantryhq/gantry/internal/apiserver"
	"github.com/gantryhq/gantry/internal/apiserver/openapi"
	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/auth/authz"
	"github.com/gantryhq/gantry/internal/controllers/nodelifecycle"
	"github.com/gantryhq/gantry/internal/pki"
	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage/etcd"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// KubernetesVersion is the Kubernetes release whose API Gantry serves.
const KubernetesVersion = "v1.37.2"

// GantryVersion is set at build time.
var GantryVersion = "0.1.0"

// ServerConfig is the configuration of `gantry server`.
type ServerConfig struct {
	DataDir     string
	BindAddress string
	// HTTPSPort is the API port; 0 picks a free one (tests).
	HTTPSPort int
	// RegistryPort is the port of the embedded OCI registry (plain HTTP, on BindAddress);
	// 0 picks a free one (tests).
	RegistryPort int
	ServiceCIDR  string
	ClusterCIDR  string
	// NodeCIDRMaskSize is the prefix length of each node's pod range out of ClusterCIDR.
	NodeCIDRMaskSize int
	ClusterDomain    string
	// PodNetwork is how pod traffic crosses nodes: "host-gw" (nodes share a link) or
	// "vxlan".
	PodNetwork   string
	DisableAgent bool
	// DisableScheduler leaves pods to a scheduler run elsewhere (tests, side-by-side
	// measurements with another scheduler).
	DisableScheduler bool
	// DisableControllers leaves the controllers to a server run elsewhere (tests of the API
	// alone).
	DisableControllers bool
	// NodeMonitorGracePeriod is how long a node may stop renewing its Lease before it is
	// marked Unknown and tainted unreachable.
	NodeMonitorGracePeriod time.Duration
	// Agent configures the node agent the server runs unless DisableAgent; its data
	// directory, registry and pod range follow the server's.
	Agent AgentConfig
	// AllowPrivileged admits privileged containers (kube-apiserver's --allow-privileged; on
	// by default, as in kubeadm and k3s clusters). It is process-wide: the first server
	// started in a process decides.
	AllowPrivileged bool
	// LocalPathDir is where the nodes keep local-path volumes (default DATA/storage; every
	// node uses the same path).
	LocalPathDir string
}

// DefaultServerConfig has the defaults of DESIGN.md.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		DataDir:                "/var/lib/gantry",
		BindAddress:            "0.0.0.0",
		HTTPSPort:              6443,
		RegistryPort:           5000,
		ServiceCIDR:            "100.65.0.0/16",
		ClusterCIDR:            "100.64.0.0/16",
		NodeCIDRMaskSize:       24,
		PodNetwork:             "host-gw",
		ClusterDomain:          "cluster.local",
		NodeMonitorGracePeriod: nodelifecycle.DefaultGracePeriod,
		AllowPrivileged:        true,
		Agent:                  DefaultAgentConfig(),
	}
}

// Server is a running control plane.
type Server struct {
	// URL is the API's address; Kubeconfig the admin kubeconfig's path.
	URL        string
	Kubeconfig string
	// RegistryAddr is the embedded registry's host:port: 127.0.0.1 when the server binds
	// every address, else the bind address.
	RegistryAddr string
	// JoinCommand is what to run on another machine to make it a node of this cluster.
	JoinCommand string
	// apiPort is the port the API listens on.
	apiPort int

	etcd     *etcd.Server
	http     *http.Server
	registry *http.Server
	// done receives the reason the server stopped, once it has fully stopped.
	done chan error
	// failure is why a part the server cannot do without (its node agent) stopped it.
	failMu   sync.Mutex
	failure  error
	stopOnce sync.Once
	// stopLoops ends the control loops; loops waits for them.
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
}

// StartServer starts etcd and the API server and returns once the API is ready. Cancel ctx
// or call Stop to shut down.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	start := time.Now()
	capabilities.Setup(cfg.AllowPrivileged, 0)
	serviceCIDR, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := uninstall.WritePID(cfg.DataDir, "server"); err != nil {
		return nil, err
	}
	cluster, err := pki.EnsureCluster(cfg.DataDir, pki.Options{ServiceCIDR: cfg.ServiceCIDR, ClusterDomain: cfg.ClusterDomain})
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort)))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	url := "https://" + net.JoinHostPort(localAddress(cfg.BindAddress), strconv.Itoa(port))
	kubeconfig := filepath.Join(cfg.DataDir, "admin.kubeconfig")
	if err := cluster.WriteAdminKubeconfig(kubeconfig, url); err != nil {
		ln.Close()
		return nil, err
	}

	store, err := etcd.Start(ctx, etcd.Config{DataDir: filepath.Join(cfg.DataDir, "etcd"), Logger: slog.Default().With("component", "etcd")})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	s := &Server{URL: url, Kubeconfig: kubeconfig, apiPort: port, etcd: store, done: make(chan error, 1)}
	fail := func(err error) (*Server, error) {
		ln.Close()
		store.Close()
		return nil, err
	}

	kinds := registry.Kinds()
	oapi, err := openapi.New(registry.Scheme(), kinds, openapi.WithInfo("Kubernetes", KubernetesVersion))
	if err != nil {
		return fail(err)
	}
	// Watches end when shutdown begins, so that it does not wait for them.
	watchCtx, stopWatches := context.WithCancel(ctx)
	var api *apiserver.Server
	api, err = apiserver.New(watchCtx, apiserver.Config{
		Store:           store.Store(),
		Kinds:           kinds,
		Scheme:          registry.Scheme(),
		Codecs:          registry.Codecs,
		ServiceCIDR:     serviceCIDR,
		Authenticator:   authn.Union{authn.NewX509(cluster.ClientCAs), bootstrapTokens(&api)},
		Authorizer:      authorizer(),
		TypeConverter:   applyconfigurations.NewTypeConverter(registry.Scheme()),
		OpenAPI:         oapi,
		Version:         versionInfo(),
		ExternalAddress: net.JoinHostPort(cfg.BindAddress, strconv.Itoa(port)),
		KubernetesPort:  int32(port),
		// Agents serve self-signed certificates, which kube-apiserver does not check either
		// without --kubelet-certificate-authority; they check ours against the cluster CA.
		NodeClientTLS: &tls.Config{
			Certificates:       []tls.Certificate{cluster.KubeletClientCert},
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS12,
		},
		BootstrapObjects: joinTokenSecret(cluster),
	})
	if err != nil {
		stopWatches()
		return fail(err)
	}

	s.http = &http.Server{
		Handler: api.Handler(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cluster.ServingCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    cluster.ClientCAs,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().With("component", "http").Handler(), slog.LevelDebug),
	}
	s.http.RegisterOnShutdown(stopWatches)
	// Bootstrap runs before the first request is served: its repair of service allocations
	// must not race with creates.
	if err := api.Bootstrap(ctx); err != nil {
		stopWatches()
		return fail(fmt.Errorf("bootstrap: %w", err))
	}
	go func() {
		err := s.http.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.Stop()
		if err == nil {
			s.failMu.Lock()
			err = s.failure
			s.failMu.Unlock()
		}
		s.done <- err
	}()
	// The registry comes before the control loops: the node agent pulls from it.
	if err := s.startRegistry(cfg); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.pushPause(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("registry: the pause image: %w", err)
	}
	if err := s.startControlLoops(ctx, cluster, url, cfg); err != nil {
		s.Stop()
		return nil, err
	}
	s.JoinCommand = joinCommand(cfg, port, cluster.Token)
	slog.Info("gantry server ready", "url", url, "kubeconfig", kubeconfig, "startup", time.Since(start).Round(time.Millisecond))
	slog.Info("join nodes with", "command", s.JoinCommand)
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	return s, nil
}

// localPathDir is LocalPathDir or its default.
func (sc ServerConfig) localPathDir() string {
	if sc.LocalPathDir != "" {
		return sc.LocalPathDir
	}
	return filepath.Join(sc.DataDir, "storage")
}

// startControlLoops runs the controllers while this server holds their lease.
func (s *Server) startControlLoops(ctx context.Context, cluster *pki.Cluster, url string, sc ServerConfig) error {
	cfg, err := loopbackConfig(cluster, url, "system:gantry-controllers", pki.GroupMasters)
	if err != nil {
		return err
	}
	ipam, err := ipamOptions(sc)
	if err != nil {
		return err
	}
	ci, err := sc.clusterInfo(s.RegistryAddr)
	if err != nil {
		return err
	}
	if err := publishClusterInfo(ctx, cfg, ci); err != nil {
		return err
	}
	if err := publishAPIEndpoints(ctx, cfg, advertiseAddress(sc), s.apiPort); err != nil {
		return err
	}
	ctx, s.stopLoops = context.WithCancel(ctx)
	if !sc.DisableControllers {
		s.leading(ctx, cfg, "gantry-controllers", func(ctx context.Context) error {
			return runControllers(ctx, cfg, controllerOptions{caPEM: cluster.CA.CertPEM, ca: cluster.CA, nodeGracePeriod: sc.NodeMonitorGracePeriod,
				localPathDir: sc.localPathDir(), ipam: ipam})
		})
	}
	if !sc.DisableScheduler {
		s.leading(ctx, cfg, "gantry-scheduler", func(ctx context.Context) error {
			return runScheduler(ctx, cfg)
		})
	}
	if !sc.DisableAgent {
		if err := s.startAgent(ctx, cluster, url, sc); err != nil {
			return err
		}
	}
	return nil
}

// startAgent runs the server's own node agent. If it fails the server stops: a server
// started to be a single-node cluster must not pretend to be one.
func (s *Server) startAgent(ctx context.Context, cluster *pki.Cluster, url string, sc ServerConfig) error {
	ac := sc.Agent
	ac.DataDir, ac.Registry = sc.DataDir, s.RegistryAddr
	cfg, err := loopbackConfig(cluster, url, "system:node:"+ac.NodeName, authz.GroupNodes)
	if err != nil {
		return err
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		if err := RunAgent(ctx, ac, cfg); err != nil && ctx.Err() == nil {
			slog.Error("node agent stopped; stopping the server", "err", err)
			s.failMu.Lock()
			s.failure = fmt.Errorf("node agent: %w", err)
			s.failMu.Unlock()
			go s.Stop()
		}
	}()
	return nil
}

// leading runs fn in the background whenever this server holds the Lease name.
func (s *Server) leading(ctx context.Context, cfg *rest.Config, name string, fn func(ctx context.Context) error) {
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		err := leaderElected(ctx, cfg, name, func(ctx context.Context) {
			if err := fn(ctx); err != nil {
				slog.Error("control loop stopped", "lease", name, "err", err)
			}
		})
		if err != nil {
			slog.Error("leader election", "lease", name, "err", err)
		}
	}()
}

// Stop shuts the server down: the control loops end, in-flight requests (API and registry)
// get a few seconds, then etcd closes.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.stopLoops != nil {
			s.stopLoops()
			s.loops.Wait()
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(shutdown); err != nil {
			slog.Warn("shutdown: requests still running were cut off", "err", err)
		}
		if s.registry != nil {
			if err := s.registry.Shutdown(shutdown); err != nil {
				slog.Warn("shutdown: registry requests still running were cut off", "err", err)
			}
		}
		if err := s.etcd.Close(); err != nil {
			slog.Warn("close etcd", "err", err)
		}
	})
}

// Wait blocks until the server has fully stopped (requests drained, etcd closed) and returns
// why it stopped: nil after Stop or the end of its context.
func (s *Server) Wait() error {
	return <-s.done
}

func versionInfo() version.Info {
	return version.Info{
		Major: "1", Minor: "37", GitVersion: KubernetesVersion + "+gantry." + GantryVersion,
		GitCommit: "unknown", GitTreeState: "clean", BuildDate: "1970-01-01T00:00:00Z",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Compact discards the store's history up to its current revision: watches from older
// resourceVersions then get 410 Gone.
func (s *Server) Compact(ctx context.Context) error {
	st := s.etcd.Store()
	rev, err := st.Revision(ctx)
	if err != nil {
		return err
	}
	return st.Compact(ctx, rev)
}

// localAddress is where this machine reaches a server bound to bind: the address itself,
// or loopback for a wildcard.
func localAddress(bind string) string {
	if ip := net.ParseIP(bind); ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bind
}

// clusterInfo is the layout the server publishes for agents; registry is its registry's
// address, of which agents take the port.
func (sc ServerConfig) clusterInfo(registry string) (clusterInfo, error) {
	ci := clusterInfo{ClusterDomain: sc.ClusterDomain, PodNetwork: sc.PodNetwork}
	var err error
	if ci.ClusterCIDR, err = netip.ParsePrefix(sc.ClusterCIDR); err != nil {
		return ci, fmt.Errorf("--cluster-cidr: %w", err)
	}
	if ci.ServiceCIDR, err = netip.ParsePrefix(sc.ServiceCIDR); err != nil {
		return ci, fmt.Errorf("--service-cidr: %w", err)
	}
	if sc.PodNetwork != "host-gw" && sc.PodNetwork != "vxlan" {
		return ci, fmt.Errorf("--pod-network %q: want host-gw or vxlan", sc.PodNetwork)
	}
	_, port, err := net.SplitHostPort(registry)
	if err != nil {
		return ci, err
	}
	ci.RegistryPort, err = strconv.Atoi(port)
	return ci, err
}
