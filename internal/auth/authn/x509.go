package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// X509 authenticates requests by their TLS client certificate, as Kubernetes does: the
// user is the subject's common name and the groups its organizations.
//
// It verifies the certificate itself against its roots, for client authentication, so it
// is correct whatever the TLS server's ClientAuth setting; with tls.VerifyClientCertIfGiven
// and the same pool as ClientCAs a bad certificate never gets this far. A verification
// costs a signature check, a few hundred microseconds on a small machine, and one
// connection carries many requests, so it remembers the certificates it has verified for
// as long as their chains are valid. (The roots never change, so a certificate once
// verified stays good until it expires.)
type X509 struct {
	roots *x509.CertPool
	now   func() time.Time // time.Now but in tests

	mu sync.Mutex
	// verified maps the SHA-256 of a certificate verified before to when its chain is
	// valid.
	verified map[[sha256.Size]byte]validity
}

type validity struct{ from, until time.Time }

// verifiedCacheSize bounds X509.verified; an entry takes about 100 bytes.
const verifiedCacheSize = 4096

var _ Authenticator = (*X509)(nil)

// NewX509 returns an authenticator that accepts client certificates issued by roots.
func NewX509(roots *x509.CertPool) *X509 {
	return &X509{roots: roots, now: time.Now, verified: make(map[[sha256.Size]byte]validity)}
}

// AuthenticateRequest implements Authenticator.
func (a *X509) AuthenticateRequest(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	if err := a.verify(leaf, r.TLS.PeerCertificates[1:], a.now()); err != nil {
		return nil, false, fmt.Errorf("%w: client certificate: %v", ErrInvalidCredentials, err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, fmt.Errorf("%w: client certificate has no common name", ErrInvalidCredentials)
	}
	u := &User{Name: leaf.Subject.CommonName, Groups: slices.Clone(leaf.Subject.Organization)}
	return authenticated(u), true, nil
}

// verify checks that leaf chains to the roots for client authentication at now.
func (a *X509) verify(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) error {
	key := sha256.Sum256(leaf.Raw)
	a.mu.Lock()
	v, ok := a.verified[key]
	a.mu.Unlock()
	if ok && !now.Before(v.from) && !now.After(v.until) {
		return nil
	}

	opts := x509.VerifyOptions{Roots: a.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return err
	}
	v = validity{from: leaf.NotBefore, until: leaf.NotAfter}
	for _, c := range chains[0] {
		if c.NotBefore.After(v.from) {
			v.from = c.NotBefore
		}
		if c.NotAfter.Before(v.until) {
			v.until = c.NotAfter
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= verifiedCacheSize {
		for k := range a.verified { // forget one, whichever
			delete(a.verified, k)
			break
		}
	}
	a.verified[key] = v
	return nil
}
