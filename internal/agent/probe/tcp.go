package probe

import (
	"context"
	"net"
	"strconv"
	"time"
)

// tcpHandler succeeds when a TCP connection to host:port opens within the timeout.
func tcpHandler(host string, port int) handler {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return func(ctx context.Context, timeout time.Duration) (outcome, string, error) {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return failed, err.Error(), nil
		}
		conn.Close()
		return passed, "", nil
	}
}
