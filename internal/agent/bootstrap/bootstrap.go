// Package bootstrap gives a node agent its own credentials, as the kubelet's TLS bootstrapping
// does: with nothing but the server's URL and a join token it trusts the server by the CA
// hash the token carries, requests a client certificate for system:node:<name> with a
// CertificateSigningRequest made as the token's user, waits for the cluster to approve and
// sign it, and writes a kubeconfig holding the CA, the certificate and its key. Later starts
// use that kubeconfig and need no token; a kubeconfig that no longer works (certificate
// expired, from another CA, for another node) is replaced by bootstrapping again with the
// token.
//
// It reaches the cluster only through client-go.
package bootstrap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate/csr"

	"github.com/gantryhq/gantry/internal/pki"
)

// Identity of node agents' certificates.
const (
	NodeUserPrefix = "system:node:"
	GroupNodes     = "system:nodes"
)

// renewBefore is how close to its expiry a certificate is no longer reused.
const renewBefore = time.Hour

// Options say which node joins which cluster.
type Options struct {
	// Server is the API server's URL, https://host[:port]. Empty uses the kubeconfig's.
	Server string
	// Token is the join token (pki.Token's String form). It may be empty when the kubeconfig
	// at Kubeconfig is still good.
	Token string
	// NodeName is the node the certificate is for.
	NodeName string
	// Kubeconfig is where the node's credentials are kept (mode 0600).
	Kubeconfig string
}

// Config returns a rest.Config for the node: from the kubeconfig if its certificate is
// still good for this node and, when a token is given, the token's cluster; otherwise from
// a fresh bootstrap with the token.
func Config(ctx context.Context, o Options) (*rest.Config, error) {
	var token *pki.Token
	if o.Token != "" {
		t, err := pki.ParseToken(o.Token)
		if err != nil {
			return nil, err
		}
		token = &t
	}
	cfg, reason := load(o, token)
	if reason == "" {
		return cfg, nil
	}
	if token == nil {
		return nil, fmt.Errorf("kubeconfig %s: %s; give --server and --token to join again", o.Kubeconfig, reason)
	}
	if o.Server == "" {
		return nil, errors.New("--server is needed to join with a token")
	}
	slog.Info("joining the cluster with the token", "server", o.Server, "node", o.NodeName, "why", reason)
	if err := Join(ctx, o.Server, *token, o.NodeName, o.Kubeconfig); err != nil {
		return nil, err
	}
	cfg, reason = load(o, token)
	if reason != "" {
		return nil, fmt.Errorf("kubeconfig %s just written: %s", o.Kubeconfig, reason)
	}
	return cfg, nil
}

// load reads the kubeconfig and says why it cannot be used ("" if it can).
func load(o Options, token *pki.Token) (*rest.Config, string) {
	if _, err := os.Stat(o.Kubeconfig); err != nil {
		return nil, "there is none"
	}
	cfg, err := clientcmd.BuildConfigFromFlags(o.Server, o.Kubeconfig)
	if err != nil {
		return nil, err.Error()
	}
	if reason := checkCredentials(cfg, token, NodeUserPrefix+o.NodeName, time.Now()); reason != "" {
		return nil, reason
	}
	return cfg, ""
}

// checkCredentials says why cfg's client certificate is no good for user at now: not from
// cfg's CA, not for client authentication, expiring, for someone else, or (with a token) from
// another CA than the token names.
func checkCredentials(cfg *rest.Config, token *pki.Token, user string, now time.Time) string {
	ca, err := firstCert(cfg.TLSClientConfig.CAData)
	if err != nil {
		return "CA: " + err.Error()
	}
	if token != nil && !token.MatchesCA(ca) {
		return "its CA is not the one the token names"
	}
	cert, err := firstCert(cfg.TLSClientConfig.CertData)
	if err != nil {
		return "client certificate: " + err.Error()
	}
	if _, err := tls.X509KeyPair(cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData); err != nil {
		return "client key: " + err.Error()
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "client certificate: " + err.Error()
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return "client certificate expires at " + cert.NotAfter.UTC().Format(time.RFC3339)
	}
	if cert.Subject.CommonName != user {
		return "client certificate is for " + cert.Subject.CommonName + ", not " + user
	}
	return ""
}

func firstCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Join requests a client certificate for node with the token and writes the kubeconfig
// holding it to path (mode 0600). It returns when the certificate is signed, the request is
// denied or fails, or ctx ends; nothing secret is sent unless the server proves it holds
// the CA the token names.
func Join(ctx context.Context, server string, token pki.Token, node, path string) error {
	boot, caPEM, err := TokenConfig(ctx, server, token)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(boot)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate the node key: %w", err)
	}
	request, err := certutil.MakeCSR(key, &pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{GroupNodes}}, nil, nil)
	if err != nil {
		return fmt.Errorf("make the certificate request: %w", err)
	}
	// An ECDSA key signs but does not encipher: the usages Kubernetes expects of such a
	// kubelet client certificate.
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	name, uid, err := csr.RequestCertificateWithContext(ctx, client, request, "", certificatesv1.KubeAPIServerClientKubeletSignerName, nil, usages, key)
	if err != nil {
		return fmt.Errorf("request a node certificate: %w", err)
	}
	slog.Info("requested a node certificate; waiting for it to be approved and signed", "csr", name)
	certPEM, err := csr.WaitForCertificate(ctx, client, name, uid)
	if err != nil {
		return fmt.Errorf("certificate request %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := pki.WriteKubeconfig(path, boot.Host, caPEM, certPEM, keyPEM); err != nil {
		return err
	}
	slog.Info("joined the cluster", "node", node, "kubeconfig", path)
	return nil
}

// TokenConfig is a rest.Config for the API server at server (https://host[:port]) holding
// nothing but a join token, and the CA certificate (PEM) it learned: it authenticates with
// the token's bearer part (user system:bootstrap:<id>) and trusts the cluster CA the token
// names by hash.
//
// It learns the CA with one TLS handshake in which the server must present a chain that
// holds a certificate whose SHA-256 is the token's CA hash and that issued the server's
// certificate for host; that CA is then pinned in the config. Nothing is sent over that
// connection, so a server that cannot prove it is the token's cluster never sees the secret.
func TokenConfig(ctx context.Context, server string, t pki.Token) (*rest.Config, []byte, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, nil, fmt.Errorf("server %q: %w", server, err)
	}
	if u.Scheme != "https" || u.Hostname() == "" {
		return nil, nil, fmt.Errorf("server %q: want https://host[:port]", server)
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
		return nil, nil, fmt.Errorf("fetch the cluster CA from %s: %w", addr, err)
	}
	conn.Close()
	if caPEM == nil {
		return nil, nil, errors.New("fetch the cluster CA: not in the server's chain")
	}
	return &rest.Config{
		Host:            u.Scheme + "://" + u.Host,
		BearerToken:     t.BearerToken(),
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
	}, caPEM, nil
}
