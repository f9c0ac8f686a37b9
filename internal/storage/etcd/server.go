package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"

	"github.com/gantryhq/gantry/internal/storage"
)

// Defaults for the zero values of Config.
const (
	DefaultCompactInterval   = 5 * time.Minute
	DefaultQuotaBackendBytes = 8 << 30
	DefaultStartTimeout      = time.Minute
)

// memberName names the single etcd member.
const memberName = "gantry"

// lockName is the file in DataDir a Server holds locked while it runs.
const lockName = "gantry.lock"

// socketName is the client socket etcd listens on inside DataDir.
const socketName = "etcd.sock"

// maxSocketPath is the longest socket path every unix we run on accepts (sun_path is 104 bytes
// on the BSDs and 108 on Linux, both including the terminating NUL).
const maxSocketPath = 103

// Config describes an embedded etcd.
type Config struct {
	// DataDir holds etcd's data (member/) and its client socket. It is created if missing.
	DataDir string
	// Logger receives etcd's own logs, with component=etcd: warnings and errors at their level,
	// info lines, a few benign start-up warnings and whatever etcd says while closing at
	// slog.LevelDebug. Nil discards them.
	Logger *slog.Logger
	// CompactInterval is how often history is compacted; each compaction keeps one interval of
	// history. Zero means DefaultCompactInterval; negative disables automatic compaction.
	CompactInterval time.Duration
	// QuotaBackendBytes caps the size of the database; zero means DefaultQuotaBackendBytes.
	QuotaBackendBytes int64
	// StartTimeout bounds the wait for etcd to become ready; zero means DefaultStartTimeout.
	StartTimeout time.Duration

	// compacted, if set, is called after each automatic compaction (tests).
	compacted func(revision int64)
}

// Server is a running embedded etcd. Close it to release the data directory.
type Server struct {
	etcd      *embed.Etcd
	lock      *fileutil.LockedFile // on DataDir, held until Close
	client    *clientv3.Client
	store     *store
	clientURL string
	log       *slog.Logger
	closing   *atomic.Bool // demotes etcd's logs about shutting down

	stopCompactor context.CancelFunc
	compactorDone chan struct{}
	closeOnce     sync.Once
}

// Start starts etcd on cfg.DataDir and returns once it serves requests; ctx bounds only that
// wait. Data and revisions written by an earlier Server on the same DataDir are kept. Only one
// Server at a time may use a DataDir.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("start etcd: no data directory")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	// Two etcds on one directory would corrupt it, and the second would first take over the
	// first one's socket. etcd's own file locks come too late for that, and bbolt's would make
	// the second wait forever: fail now instead.
	lock, err := fileutil.TryLockFile(filepath.Join(dir, lockName), os.O_WRONLY|os.O_CREATE, 0o600)
	if errors.Is(err, fileutil.ErrLocked) {
		return nil, fmt.Errorf("start etcd: %s is in use by another server", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = DefaultCompactInterval
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}

	ec := embed.NewConfig()
	ec.Dir = dir
	ec.Name = memberName
	ec.InitialCluster = ec.InitialClusterFromName(memberName)
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(slogCore{
		h:       log.With("component", "etcd").Handler(),
		closing: closing,
	}))

	// Clients reach etcd over a socket inside DataDir, so the directory's permissions guard it.
	// The Store does not use it (it calls etcd in-process); it is there for etcdctl. Should
	// DataDir be too deep for a socket path, fall back to an ephemeral loopback port.
	client := url.URL{Scheme: "unix", Path: filepath.Join(dir, socketName)}
	if len(client.Path) > maxSocketPath {
		client = url.URL{Scheme: "http", Host: "127.0.0.1:0"}
		log.Warn("data directory too deep for a unix socket, etcd listens on loopback", "dir", dir)
	}
	ec.ListenClientUrls = []url.URL{client}
	ec.AdvertiseClientUrls = []url.URL{client}
	// A single member has no peers to talk to: no peer listener at all. The advertised peer URL
	// is only recorded in the membership.
	ec.ListenPeerUrls = nil
	ec.EnableGRPCGateway = false

	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	// The Server compacts itself (see compactor.go); etcd's own compactor stays off.
	ec.AutoCompactionMode = embed.CompactorModeRevision
	ec.AutoCompactionRetention = "0"
	// With one member an election only waits for its own timeout: shorten it so that a start
	// or restart is ready in tens of milliseconds rather than a second.
	ec.TickMs = 10
	ec.ElectionMs = 100

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start etcd in %s: %w", dir, err)
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err = <-e.Err():
		err = fmt.Errorf("start etcd in %s: %w", dir, err)
	case <-timer.C:
		err = fmt.Errorf("start etcd in %s: not ready after %v", dir, cfg.StartTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("start etcd in %s: %w", dir, ctx.Err())
	}
	if err != nil {
		e.Close()
		return nil, err
	}

	if client.Scheme == "http" {
		client.Host = e.Clients[0].Addr().String()
	}
	c := v3client.New(e.Server)
	s := &Server{
		etcd:      e,
		lock:      lock,
		client:    c,
		store:     &store{client: c},
		clientURL: client.String(),
		log:       log,
		closing:   closing,
	}
	ok = true
	if cfg.CompactInterval > 0 {
		cctx, cancel := context.WithCancel(context.Background())
		s.stopCompactor = cancel
		s.compactorDone = make(chan struct{})
		go s.runCompactor(cctx, cfg.CompactInterval, cfg.compacted)
	}
	return s, nil
}

// Store returns the Store backed by this etcd. It stays valid until Close.
func (s *Server) Store() storage.Store { return s.store }

// ClientURL is the address etcdctl can reach this etcd at, normally unix://<DataDir>/etcd.sock.
func (s *Server) ClientURL() string { return s.clientURL }

// Close stops compaction, ends every watch and shuts etcd down. Everything a Store call
// acknowledged is on disk already; Close only releases the directory. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCompactor != nil {
			s.stopCompactor()
			<-s.compactorDone
		}
		// The in-process client has no connection: closing it only cancels its watches, and it
		// reports that as context.Canceled.
		_ = s.client.Close()
		s.closing.Store(true)
		s.etcd.Close()
		s.lock.Close()
	})
	return nil
}
