package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Serve answers on UDP and TCP at addr (e.g. "100.65.0.10:53") until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	udp, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("dns: listen udp %s: %w", addr, err)
	}
	tcp, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		udp.Close()
		return fmt.Errorf("dns: listen tcp %s: %w", addr, err)
	}
	return s.ServeConn(ctx, udp, tcp)
}

// ServeConn answers on already-open listeners until ctx ends, then closes them and returns
// nil once every query in flight is answered. Either listener may be nil. It returns early
// with an error if a listener fails.
func (s *Server) ServeConn(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	if s.fromResolvConf && udp != nil {
		s.fwd.exclude(udp.LocalAddr().String())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if udp != nil {
		wg.Go(func() { errs <- s.serveUDP(ctx, udp) })
	}
	if tcp != nil {
		wg.Go(func() { errs <- s.serveTCP(ctx, tcp) })
	}
	go func() {
		<-ctx.Done()
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		cancel()
	}
	wg.Wait()
	return err
}

// serveUDP reads queries and answers each in its own goroutine, so that a query waiting on an
// upstream does not hold up the others.
func (s *Server) serveUDP(ctx context.Context, conn net.PacketConn) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxInflight)
	buf := make([]byte, 65535)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns: read udp: %w", err)
		}
		pkt := append([]byte(nil), buf[:n]...)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if out := s.respond(ctx, pkt, true); out != nil {
				if _, err := conn.WriteTo(out, from); err != nil && ctx.Err() == nil {
					s.log.Debug("write udp answer", "to", from, "err", err)
				}
			}
		})
	}
}

// serveTCP serves each connection in its own goroutine, answering its queries in order.
func (s *Server) serveTCP(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	// Closing the connections is what unblocks their reads when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("dns: accept tcp: %w", err)
		}
		mu.Lock()
		if len(conns) >= maxTCPConns || ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			s.serveTCPConn(ctx, c)
		})
	}
}

// serveTCPConn answers length-prefixed queries (RFC 1035 §4.2.2) until the client closes the
// connection or leaves it idle.
func (s *Server) serveTCPConn(ctx context.Context, c net.Conn) {
	var lenBuf [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		pkt := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, pkt); err != nil {
			return
		}
		out := s.respond(ctx, pkt, false)
		if out == nil {
			continue
		}
		c.SetWriteDeadline(time.Now().Add(tcpWriteLimit))
		frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		if _, err := c.Write(append(frame, out...)); err != nil {
			return
		}
	}
}
