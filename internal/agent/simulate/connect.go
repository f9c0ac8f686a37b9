package simulate

import (
	"context"

	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/agent/bootstrap"
	"github.com/gantryhq/gantry/internal/pki"
)

// TokenConfig is a rest.Config for the API server at server (https://host[:port]) holding
// nothing but a join token: it authenticates with the token (user system:bootstrap:<id>)
// and trusts the cluster CA the token names by hash (bootstrap.TokenConfig).
//
// A bootstrap token may only request certificates; simulated nodes, which write many Node
// objects, need an admin kubeconfig.
func TokenConfig(ctx context.Context, server, token string) (*rest.Config, error) {
	t, err := pki.ParseToken(token)
	if err != nil {
		return nil, err
	}
	cfg, _, err := bootstrap.TokenConfig(ctx, server, t)
	return cfg, err
}
