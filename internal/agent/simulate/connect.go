package simulate

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/pki"
)

// TokenConfig is a rest.Config for the API server at server (https://host[:port]) holding
// nothing but a join token: it authenticates with the token as a bearer token (user
// system:bootstrap:gantry) and trusts the cluster CA the token names by hash.
//
// It learns the CA with one TLS handshake in which the server must present a chain that
// holds a certificate whose SHA-256 is the token's CA hash and that issued the server's
// certificate for host; that CA is then pinned in the config. Nothing is sent over that
// connection.
//
// The join token may only do what the server authorizes for bootstrap users. Writing nodes,
// leases and pod status needs node authorization, which comes with node join; until then
// use an admin kubeconfig.
func TokenConfig(ctx context.Context, server, token string) (*rest.Config, error) {
	t, err := pki.ParseToken(token)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", server, err)
	}
	if u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("server %q: want https://host[:port]", server)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}

	conf := t.ClientTLSConfig(u.Hostname())
	var caPEM []byte
	verify := conf.VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verify(cs); err != nil {
			return err
		}
		for _, c := range cs.PeerCertificates[1:] {
			if t.MatchesCA(c) {
				caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w", addr, err)
	}
	conn.Close()
	if caPEM == nil {
		return nil, errors.New("fetch the cluster CA: not in the server's chain")
	}
	return &rest.Config{
		Host:            u.Scheme + "://" + u.Host,
		BearerToken:     t.String(),
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
	}, nil
}
