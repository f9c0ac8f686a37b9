package probe

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcHandler asks host:port's grpc.health.v1 service about service: SERVING passes. As
// the kubelet, it keeps trying to connect until the timeout.
func grpcHandler(host string, port int, service string) handler {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return func(ctx context.Context, timeout time.Duration) (outcome, string, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(userAgent))
		if err != nil {
			return failed, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
		}
		defer conn.Close()
		conn.Connect()
		for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
			if !conn.WaitForStateChange(ctx, s) {
				return failed, fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, ctx.Err()), nil
			}
		}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			switch st := status.Convert(err); st.Code() {
			case codes.Unimplemented:
				return failed, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message()), nil
			case codes.DeadlineExceeded:
				return failed, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
			}
			return failed, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return failed, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
		}
		return passed, "service healthy", nil
	}
}
