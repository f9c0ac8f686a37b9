package bootstraptoken

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names and keys, as in k8s.io/cluster-bootstrap/token/api.
const (
	// Namespace holds the token Secrets.
	Namespace = "kube-system"
	// SecretPrefix starts a token Secret's name; the token ID follows.
	SecretPrefix = "bootstrap-token-"

	keyID          = "token-id"
	keySecret      = "token-secret"
	keyExpiration  = "expiration"
	keyDescription = "description"
	keyUsageAuth   = "usage-bootstrap-authentication"
	keyExtraGroups = "auth-extra-groups"

	// UserPrefix starts the user name of a bootstrap token: system:bootstrap:<id>.
	UserPrefix = "system:bootstrap:"
	// GroupBootstrappers is the group of every bootstrap token's user.
	GroupBootstrappers = "system:bootstrappers"
	// GroupNodes is the extra group of tokens made to join nodes (kubeadm's
	// system:bootstrappers:kubeadm:default-node-token); the CSR approver trusts it.
	GroupNodes = "system:bootstrappers:gantry:nodes"
)

// Lengths of a token's ID and secret, and their alphabet.
const (
	IDLen     = 6
	SecretLen = 16
	alphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// ErrInvalid is the class of Parse errors; ErrNotToken that of ParseSecret errors.
var (
	ErrInvalid  = errors.New("invalid bootstrap token")
	ErrNotToken = errors.New("not a usable bootstrap token secret")
)

// Generate makes a fresh token ID and secret.
func Generate() (id, secret string, err error) {
	if id, err = randomString(IDLen); err != nil {
		return "", "", fmt.Errorf("generate token id: %w", err)
	}
	if secret, err = randomString(SecretLen); err != nil {
		return "", "", fmt.Errorf("generate token secret: %w", err)
	}
	return id, secret, nil
}

// randomString is n characters of alphabet, uniformly chosen.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	limit := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// Parse splits a bearer token <id>.<secret>. Errors wrap ErrInvalid and never contain the
// secret.
func Parse(s string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(s, ".")
	if !ok || !validString(id, IDLen) {
		return "", "", fmt.Errorf("%w: the id must be %d characters of [a-z0-9]", ErrInvalid, IDLen)
	}
	if !validString(secret, SecretLen) {
		return "", "", fmt.Errorf("%w: the secret must be %d characters of [a-z0-9]", ErrInvalid, SecretLen)
	}
	return id, secret, nil
}

// ValidID reports whether id has the form of a token ID.
func ValidID(id string) bool { return validString(id, IDLen) }

func validString(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if !strings.ContainsRune(alphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// Token is a bootstrap token as stored in its Secret.
type Token struct {
	ID, Secret string
	// Expires is when the token stops working; zero means never.
	Expires     time.Time
	Description string
	// ExtraGroups are groups the token's user is in besides GroupBootstrappers; each starts
	// with "system:bootstrappers:".
	ExtraGroups []string
}

// ForNodes is a token to join nodes with: in GroupNodes, expiring ttl after now (0: never).
func ForNodes(id, secret string, ttl time.Duration, description string, now time.Time) Token {
	t := Token{ID: id, Secret: secret, Description: description, ExtraGroups: []string{GroupNodes}}
	if ttl > 0 {
		t.Expires = now.Add(ttl).UTC().Truncate(time.Second)
	}
	return t
}

// SecretName is the name of the Secret of the token with id.
func SecretName(id string) string {
	return SecretPrefix + id
}

// ToSecret is the token as a Kubernetes bootstrap-token Secret.
func (t Token) ToSecret() *corev1.Secret {
	data := map[string][]byte{
		keyID:        []byte(t.ID),
		keySecret:    []byte(t.Secret),
		keyUsageAuth: []byte("true"),
	}
	if !t.Expires.IsZero() {
		data[keyExpiration] = []byte(t.Expires.UTC().Format(time.RFC3339))
	}
	if t.Description != "" {
		data[keyDescription] = []byte(t.Description)
	}
	if len(t.ExtraGroups) > 0 {
		data[keyExtraGroups] = []byte(strings.Join(t.ExtraGroups, ","))
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(t.ID), Namespace: Namespace},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       data,
	}
}

// ParseSecret reads a token Secret as Kubernetes' bootstrap token authenticator does: the
// type, name and token-id must agree, the token must be usable for authentication, and its
// extra groups must be bootstrapper groups. Expiry is not checked here (see Expired), so that
// expired tokens can still be listed. Errors wrap ErrNotToken and never contain the secret.
func ParseSecret(s *corev1.Secret) (Token, error) {
	fail := func(format string, args ...any) (Token, error) {
		return Token{}, fmt.Errorf("%w: %s/%s: %s", ErrNotToken, s.Namespace, s.Name, fmt.Sprintf(format, args...))
	}
	if s.Type != corev1.SecretTypeBootstrapToken {
		return fail("type %q", s.Type)
	}
	t := Token{ID: string(s.Data[keyID]), Secret: string(s.Data[keySecret])}
	if !validString(t.ID, IDLen) || !validString(t.Secret, SecretLen) {
		return fail("malformed token-id or token-secret")
	}
	if s.Name != SecretName(t.ID) {
		return fail("the name does not match token-id %q", t.ID)
	}
	if string(s.Data[keyUsageAuth]) != "true" {
		return fail("not usable for authentication")
	}
	if exp := string(s.Data[keyExpiration]); exp != "" {
		e, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return fail("expiration %q: %v", exp, err)
		}
		t.Expires = e
	}
	t.Description = string(s.Data[keyDescription])
	if groups := string(s.Data[keyExtraGroups]); groups != "" {
		for g := range strings.SplitSeq(groups, ",") {
			g = strings.TrimSpace(g)
			if !strings.HasPrefix(g, GroupBootstrappers+":") {
				return fail("extra group %q does not start with %s:", g, GroupBootstrappers)
			}
			t.ExtraGroups = append(t.ExtraGroups, g)
		}
	}
	return t, nil
}

// Expired reports whether the token no longer works at now.
func (t Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// Matches reports whether secret is the token's, in time that does not depend on where they
// differ.
func (t Token) Matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1
}

// User is the name of the token's user, system:bootstrap:<id>.
func (t Token) User() string {
	return UserPrefix + t.ID
}

// Groups are the groups of the token's user, without system:authenticated.
func (t Token) Groups() []string {
	extra := slices.DeleteFunc(slices.Clone(t.ExtraGroups), func(g string) bool { return g == GroupBootstrappers })
	return append([]string{GroupBootstrappers}, extra...)
}
