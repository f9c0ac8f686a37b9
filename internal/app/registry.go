package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gantryhq/gantry/internal/registryserver"
)

// clusterRegistryName is the host cluster images are named with (localhost:5000/gantry/pause:1).
// Nodes' containerd mirrors it to the server's registry whatever port that listens on, and
// asks with ?ns=localhost:5000, which the registry must read as itself.
const clusterRegistryName = "localhost:5000"

// startRegistry serves the embedded OCI registry (plain HTTP, data in DATA/registry) on the
// bind address and cfg.RegistryPort, and sets s.RegistryAddr.
func (s *Server) startRegistry(cfg ServerConfig) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.RegistryPort)))
	if err != nil {
		return fmt.Errorf("registry: listen: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	host := cfg.BindAddress
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.RegistryAddr = net.JoinHostPort(host, port)
	reg, err := registryserver.New(filepath.Join(cfg.DataDir, "registry"), registryserver.Options{
		OwnNames: []string{clusterRegistryName, s.RegistryAddr, "localhost:" + port, "127.0.0.1:" + port},
		Logger:   slog.Default().With("component", "registry"),
	})
	if err != nil {
		ln.Close()
		return err
	}
	s.registry = &http.Server{
		Handler:           reg.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().With("component", "registry").Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.registry.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("registry stopped", "err", err)
		}
	}()
	slog.Info("registry serving", "addr", s.RegistryAddr)
	return nil
}
