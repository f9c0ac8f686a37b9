// Package bootstraptoken is the format of Kubernetes bootstrap tokens and of the Secrets that
// hold them: what `gantry token` writes, what the API server's authenticator reads, and what
// a joining agent sends.
//
// A bootstrap token is <id>.<secret>: 6 and 16 characters of [a-z0-9]. It is stored as the
// Secret kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token, with the
// keys of k8s.io/cluster-bootstrap/token/api (token-id, token-secret, expiration,
// description, usage-bootstrap-authentication, auth-extra-groups), so kubeadm's tooling and
// ours read each other's tokens. The holder authenticates as system:bootstrap:<id> in
// system:bootstrappers and the token's extra groups.
//
// Gantry's join token (internal/pki.Token) is a bootstrap token plus the hash of the
// cluster CA that lets the holder trust the server before sending the secret.
package bootstraptoken
