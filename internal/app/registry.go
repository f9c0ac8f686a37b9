package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantryhq/gantry/internal/images"
	"github.com/gantryhq/gantry/internal/registryserver"
)

// startRegistry serves the embedded OCI registry (plain HTTP, data in DATA/registry) on the
// bind address and cfg.RegistryPort, and sets s.RegistryAddr.
func (s *Server) startRegistry(cfg ServerConfig) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.RegistryPort)))
	if err != nil {
		return fmt.Errorf("registry: listen: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	s.RegistryAddr = net.JoinHostPort(localAddress(cfg.BindAddress), port)
	reg, err := registryserver.New(filepath.Join(cfg.DataDir, "registry"), registryserver.Options{
		// Nodes' containerd mirrors the cluster images' host, localhost:5000, to this
		// registry whatever port it listens on, and asks with ?ns=localhost:5000.
		OwnNames: []string{images.ClusterRegistry, s.RegistryAddr, "localhost:" + port, "127.0.0.1:" + port},
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

// pushPause puts the pause image, which every node's sandboxes run, into the registry.
func (s *Server) pushPause(ctx context.Context) error {
	img, err := images.Pause()
	if err != nil {
		return err
	}
	ref := s.RegistryAddr + strings.TrimPrefix(images.PauseImage, images.ClusterRegistry)
	return images.Push(ctx, img, ref)
}
