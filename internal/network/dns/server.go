package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Config configures a Server.
type Config struct {
	// ClusterDomain is the zone answered from the cluster's objects, e.g. "cluster.local".
	ClusterDomain string
	// Upstreams are the host:port resolvers asked for every other name, in order. Empty
	// means the nameservers of /etc/resolv.conf, less the address the Server listens on.
	Upstreams []string
	// TTL is the TTL of answers from the cluster and the negative TTL of the zone; 5 s if 0,
	// as CoreDNS.
	TTL uint32
	// Logger receives serving errors; slog.Default() with component=dns if nil.
	Logger *slog.Logger
}

const (
	defaultTTL    = 5
	resolvConf    = "/etc/resolv.conf"
	maxInflight   = 1024             // UDP queries answered at once; more wait in the socket buffer
	maxTCPConns   = 256              // TCP connections served at once; more are closed
	tcpIdle       = 10 * time.Second // a TCP connection idle this long is closed
	tcpWriteLimit = 5 * time.Second
)

// Server answers DNS for the cluster from the informers it was built with, and forwards other
// names upstream. It does not start the informers: the caller starts them and Serve answers
// SERVFAIL for cluster names until they have synced.
type Server struct {
	zone           string // lower case, fully qualified
	ttl            uint32
	ix             *index
	fwd            *forwarder
	fromResolvConf bool
	hasSynced      []cache.InformerSynced
	log            *slog.Logger
}

// New builds a Server and registers its event handlers on the informers.
func New(cfg Config, services coreinformers.ServiceInformer, endpointSlices discoveryinformers.EndpointSliceInformer) (*Server, error) {
	zone := fqdn(strings.Trim(cfg.ClusterDomain, "."))
	if zone == "." {
		return nil, errors.New("dns: cluster domain is empty")
	}
	if _, ok := dns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("dns: cluster domain %q is not a domain name", cfg.ClusterDomain)
	}
	s := &Server{zone: zone, ttl: cfg.TTL, ix: newIndex(zone), log: cfg.Logger}
	if s.ttl == 0 {
		s.ttl = defaultTTL
	}
	if s.log == nil {
		s.log = slog.Default().With("component", "dns")
	}
	upstreams := slices.Clone(cfg.Upstreams)
	if len(upstreams) == 0 {
		var err error
		if upstreams, err = resolvConfUpstreams(resolvConf); err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		s.fromResolvConf = true
	}
	for i, u := range upstreams {
		upstreams[i] = hostPort(u)
	}
	s.fwd = newForwarder(upstreams)

	objs := newObjects(zone, s.ix)
	svcReg, err := services.Informer().AddEventHandler(objs.serviceHandler())
	if err != nil {
		return nil, fmt.Errorf("dns: watch services: %w", err)
	}
	sliceReg, err := endpointSlices.Informer().AddEventHandler(objs.sliceHandler())
	if err != nil {
		return nil, fmt.Errorf("dns: watch endpoint slices: %w", err)
	}
	s.hasSynced = []cache.InformerSynced{svcReg.HasSynced, sliceReg.HasSynced}
	return s, nil
}

func (s *Server) synced() bool {
	for _, f := range s.hasSynced {
		if !f() {
			return false
		}
	}
	return true
}
