package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/internal/apiserver"
	"github.com/gantryhq/gantry/internal/auth/authn"
	"github.com/gantryhq/gantry/internal/auth/authz"
	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
	"github.com/gantryhq/gantry/internal/pki"
)

// bootstrapTokenCacheTTL is how long the server trusts what it read of a token Secret: how
// long a revoked token keeps working at most.
const bootstrapTokenCacheTTL = 5 * time.Second

// authorizer is who may do what: administrators anything, node agents what a kubelet needs,
// bootstrap tokens only request certificates, anyone health, version and discovery.
func authorizer() authz.Union {
	return authz.Union{authz.Masters{}, authz.Node{}, authz.Bootstrappers{}, authz.PublicPaths{}}
}

// bootstrapTokens authenticates join tokens from their Secrets, read through *api, the
// server's own storage. *api is set once the server is built, before it serves.
func bootstrapTokens(api **apiserver.Server) *authn.BootstrapTokens {
	secrets := corev1.SchemeGroupVersion.WithResource("secrets")
	return authn.NewBootstrapTokens(func(ctx context.Context, name string) (*corev1.Secret, error) {
		obj, err := (*api).Objects().Get(ctx, secrets, bootstraptoken.Namespace, name)
		if err != nil {
			return nil, err
		}
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return nil, fmt.Errorf("secret %s: unexpected %T", name, obj)
		}
		return s, nil
	}, bootstrapTokenCacheTTL)
}

// joinTokenSecret is the data directory's join token as a bootstrap-token Secret. It never
// expires: it is the cluster's standing token until revoked (`gantry token revoke`).
func joinTokenSecret(cluster *pki.Cluster) []runtime.Object {
	t := bootstraptoken.ForNodes(cluster.Token.ID, cluster.Token.Secret, 0, "the join token of "+cluster.Paths.Token, time.Now())
	return []runtime.Object{t.ToSecret()}
}

// joinCommand is what to run on another machine to join it to this cluster.
func joinCommand(cfg ServerConfig, port int, token pki.Token) string {
	server := "https://" + net.JoinHostPort(advertiseAddress(cfg).String(), strconv.Itoa(port))
	return "gantry agent --server " + server + " --token " + token.String()
}

// advertiseAddress is where other machines, and pods, reach this server: the bind address,
// or for a wildcard the node's address (the default route's), loopback if there is none.
func advertiseAddress(cfg ServerConfig) netip.Addr {
	if ip, err := netip.ParseAddr(cfg.BindAddress); err == nil && !ip.IsUnspecified() {
		return ip
	}
	if ip, err := nodeAddress(cfg.Agent.NodeIP); err == nil {
		return ip
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}
