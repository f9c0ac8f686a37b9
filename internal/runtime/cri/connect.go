package cri

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/cri-client/pkg/util"
)

// requestTimeout bounds each CRI call, as the kubelet's --runtime-request-timeout (2m) does;
// image pulls are the slow ones.
const requestTimeout = 2 * time.Minute

// pollInterval is how often a runtime that does not answer yet is asked again.
const pollInterval = 50 * time.Millisecond

// Connect waits until the CRI runtime at endpoint ("unix:///path", or a bare socket path)
// answers Version, then returns its runtime and image services. It serves the supervised
// containerd and a runtime given with --container-runtime-endpoint alike. It gives up when ctx
// ends. The caller closes both services when done with them.
func Connect(ctx context.Context, endpoint string) (internalapi.RuntimeService, internalapi.ImageManagerService, error) {
	if err := waitVersion(ctx, endpoint, nil); err != nil {
		return nil, nil, fmt.Errorf("connect to CRI runtime %s: %w", endpoint, err)
	}
	// No tracer provider: nothing in the agent exports traces, so skip the per-call handler.
	rs, err := remote.NewRemoteRuntimeServiceBuilder().WithEndpoint(endpoint).
		WithConnectionTimeout(requestTimeout).WithTracerProvider(nil).Build(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to CRI runtime %s: %w", endpoint, err)
	}
	is, err := remote.NewRemoteImageServiceBuilder().WithEndpoint(endpoint).
		WithConnectionTimeout(requestTimeout).WithTracerProvider(nil).Build(ctx)
	if err != nil {
		_ = rs.Close(ctx)
		return nil, nil, fmt.Errorf("connect to CRI image service %s: %w", endpoint, err)
	}
	return rs, is, nil
}

// waitVersion asks endpoint for the CRI Version until it answers, ctx ends or exited closes
// (the runtime process died). Each try uses a new connection, so a socket that appears is
// noticed at once rather than after gRPC's reconnect backoff.
func waitVersion(ctx context.Context, endpoint string, exited <-chan struct{}) error {
	addr, dialer, err := util.GetAddressAndDialer(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	target := addr
	if strings.HasPrefix(addr, "/") {
		target = "passthrough:///" + addr
	}
	var last error
	for {
		if last = tryVersion(ctx, target, dialer); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no CRI Version answer: %w (last error: %v)", ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("runtime exited before answering CRI Version (last error: %v)", last)
		case <-time.After(pollInterval):
		}
	}
}

func tryVersion(ctx context.Context, target string, dialer func(context.Context, string) (net.Conn, error)) error {
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("localhost"),
		grpc.WithContextDialer(dialer))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	return err
}
