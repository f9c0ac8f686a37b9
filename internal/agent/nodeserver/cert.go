package nodeserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// renewBefore is how long before it expires the serving certificate is made again.
const renewBefore = 30 * 24 * time.Hour

// ensureServingCert loads dir/agent.crt and agent.key, or makes a new self-signed pair (as the
// kubelet does without --tls-cert-file) when they are missing, unreadable, about to expire or
// lack one of the node's names.
func ensureServingCert(dir, nodeName string, ips []net.IP, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key")
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil && fits(pair, nodeName, ips, now):
		return pair, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		slog.Warn("replacing unreadable agent serving certificate", "path", certPath, "err", err)
	}
	host := nodeName
	if host == "" {
		host = "localhost"
	}
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, ips, nil)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("make agent serving certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("create %s: %w", dir, err)
	}
	// Key first: a crash in between leaves a pair that does not match, which the next start
	// replaces.
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s: %w", certPath, err)
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load %s: %w", certPath, err)
	}
	return pair, nil
}

// fits reports whether a loaded serving certificate is still good for the node.
func fits(pair tls.Certificate, nodeName string, ips []net.IP, now time.Time) bool {
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Add(renewBefore).After(leaf.NotAfter) {
		return false
	}
	if nodeName != "" && leaf.VerifyHostname(nodeName) != nil {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
