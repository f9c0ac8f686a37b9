package pki

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
)

// TokenPrefix starts every join token; the digit is the format's version.
const TokenPrefix = "gantry1"

// legacySecretBytes is the secret of the first token form, in hex.
const legacySecretBytes = 16

// ErrInvalidToken is the class of every ParseToken error.
var ErrInvalidToken = errors.New("invalid join token")

// Token is a join token: the hash that identifies the cluster CA, and a Kubernetes bootstrap
// token (an ID and a secret) that proves the holder may join. Its String form is
// gantry1.<ca-hash>.<id>.<secret>; what is sent to the server is only BearerToken,
// <id>.<secret>, the form Kubernetes' bootstrap token authenticator reads.
type Token struct {
	// CAHash is the lowercase hex SHA-256 of the CA certificate's DER encoding.
	CAHash string
	// ID names the token's Secret, kube-system/bootstrap-token-<ID>; it is not secret.
	// Six characters of [a-z0-9].
	ID string
	// Secret is sixteen characters of [a-z0-9].
	Secret string
}

// NewToken makes a token with a fresh ID and secret for the CA certificate ca.
func NewToken(ca *x509.Certificate) (Token, error) {
	id, secret, err := bootstraptoken.Generate()
	if err != nil {
		return Token{}, err
	}
	return Token{CAHash: CAHash(ca), ID: id, Secret: secret}, nil
}

// CAHash is the hash a Token carries for cert: lowercase hex SHA-256 of its DER encoding.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseToken parses the String form of a token, gantry1.<ca-hash>.<id>.<secret>, or the
// first form gantry1.<ca-hash>.<32 hex digits>, whose first 6 digits are read as the ID
// and the next 16 as the secret (the last 10 are not used). Surrounding white space is
// ignored (the token is often read from a file) and the hash may be upper case; the Token
// returned is normalized to lower case. Errors wrap ErrInvalidToken and never contain the
// secret.
func ParseToken(s string) (Token, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if (len(parts) != 3 && len(parts) != 4) || parts[0] != TokenPrefix {
		return Token{}, fmt.Errorf("%w: want the form %s.<ca-hash>.<id>.<secret>", ErrInvalidToken, TokenPrefix)
	}
	hash, err := parseHex(parts[1], sha256.Size)
	if err != nil {
		return Token{}, fmt.Errorf("%w: CA hash: %v", ErrInvalidToken, err)
	}
	if len(parts) == 3 {
		legacy, err := parseHex(parts[2], legacySecretBytes)
		if err != nil {
			return Token{}, fmt.Errorf("%w: secret: %v", ErrInvalidToken, err)
		}
		return Token{CAHash: hash, ID: legacy[:bootstraptoken.IDLen], Secret: legacy[bootstraptoken.IDLen : bootstraptoken.IDLen+bootstraptoken.SecretLen]}, nil
	}
	id, secret, err := bootstraptoken.Parse(parts[2] + "." + parts[3])
	if err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return Token{CAHash: hash, ID: id, Secret: secret}, nil
}

// parseHex checks that s is n bytes of hex and returns it in lower case.
func parseHex(s string, n int) (string, error) {
	if len(s) != 2*n {
		return "", fmt.Errorf("want %d hex digits, have %d", 2*n, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", errors.New("not hex")
	}
	return strings.ToLower(s), nil
}

// String is the token's text form, gantry1.<ca-hash>.<id>.<secret>.
func (t Token) String() string {
	return TokenPrefix + "." + t.CAHash + "." + t.BearerToken()
}

// BearerToken is what the token holder sends to the server: <id>.<secret>, a Kubernetes
// bootstrap token. The CA hash stays with the holder; it is not a credential.
func (t Token) BearerToken() string {
	return t.ID + "." + t.Secret
}

// Equal reports whether t and u are the same token, in time that does not depend on where
// they differ.
func (t Token) Equal(u Token) bool {
	hash := subtle.ConstantTimeCompare([]byte(t.CAHash), []byte(u.CAHash))
	id := subtle.ConstantTimeCompare([]byte(t.ID), []byte(u.ID))
	secret := subtle.ConstantTimeCompare([]byte(t.Secret), []byte(u.Secret))
	return hash&id&secret == 1
}

// MatchesCA reports whether cert is the CA certificate the token names.
func (t Token) MatchesCA(cert *x509.Certificate) bool {
	return cert != nil && CAHash(cert) == t.CAHash
}

// ClientTLSConfig is a TLS client configuration for reaching the server at host (a name
// or an IP address) with nothing but the token: the server must send the CA certificate
// named by the token in its chain, and its own certificate must be issued by that CA for
// serverAuth and host. Use it to fetch the CA certificate or a node certificate; once
// the CA is known, verify against it in the usual way.
func (t Token) ClientTLSConfig(host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is not skipped but replaced: VerifyConnection pins the CA.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return t.verifyServer(cs.PeerCertificates, host)
		},
	}
}

func (t Token) verifyServer(chain []*x509.Certificate, host string) error {
	if len(chain) == 0 {
		return errors.New("server sent no certificate")
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	found := false
	for _, c := range chain[1:] {
		if t.MatchesCA(c) {
			roots.AddCert(c)
			found = true
		} else {
			intermediates.AddCert(c)
		}
	}
	if !found {
		return fmt.Errorf("server's certificate chain does not contain the CA the join token names (sha256 %s)", t.CAHash)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		DNSName:       host,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}
