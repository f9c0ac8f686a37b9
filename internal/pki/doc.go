// Package pki creates and keeps a cluster's certificates, its admin kubeconfig and its join
// token.
//
// A server calls EnsureCluster on every start. The first start creates everything; later
// starts load what is on disk and change only what must change, so that clients which
// already trust the cluster keep working:
//
//	<dataDir>/pki/ca.crt, ca.key          cluster CA, ECDSA P-256, 10 years; never replaced
//	<dataDir>/pki/server.crt, server.key  API serving certificate, 1 year
//	<dataDir>/pki/admin.crt, admin.key    CN=gantry-admin, O=system:masters, 1 year
//	<dataDir>/pki/apiserver-kubelet-client.crt, .key
//	                                      CN=kube-apiserver-kubelet-client, O=system:masters,
//	                                      1 year: what the API server presents to node agents
//	<dataDir>/admin.kubeconfig            written by Cluster.WriteAdminKubeconfig
//	<dataDir>/token                       the join token
//
// Directories are created 0700; private keys, the kubeconfig and the token are 0600. Every
// file is written to a temporary name and renamed into place, key before certificate, so a
// crash leaves either the old pair, the new pair, or a key that does not match its
// certificate, which the next start notices and repairs.
//
// # Renewal
//
// The CA is created once. ca.crt is the marker that it exists: without ca.crt a new CA is
// made (and a stray ca.key from an interrupted first start is overwritten); with ca.crt but
// without ca.key EnsureCluster fails rather than replace a CA that clients may trust.
//
// The serving certificate is issued again, from the same CA, when it is missing, does not
// match its key or the CA, expires within RenewBefore, or lacks a subject alternative name
// the host now needs (a new interface address, a new ExtraSANs entry). Names are only ever
// added: the new certificate keeps the old one's names, so an interface that is down during
// one start does not drop its address. The admin and kubelet-client certificates are issued
// again on the same conditions except names, and when their subject is not the expected one.
//
// # Join token
//
// The token written to <dataDir>/token has the form
//
//	gantry1.<ca-hash>.<id>.<secret>
//
// where ca-hash is the lowercase hex SHA-256 of the cluster CA certificate's DER encoding
// (64 characters) and <id>.<secret> is a Kubernetes bootstrap token: 6 and 16 characters
// of [a-z0-9]. The hash lets an agent that holds nothing but the token trust the server:
// the server sends the CA certificate in its TLS chain, and Token.ClientTLSConfig accepts
// the connection only if a certificate in the chain has that hash and the server's
// certificate chains to it. Only then is <id>.<secret> sent, as a bearer token; the server
// finds the Secret kube-system/bootstrap-token-<id> (BootstrapToken) and authenticates the
// holder as system:bootstrap:<id> in GroupBootstrappers. Secrets are compared in constant
// time.
//
// The first form, gantry1.<ca-hash>.<32 hex digits>, is still accepted: its first 6 digits
// are the id and the next 16 the secret. Keeping the id inside the token (rather than
// deriving it by hashing the secret) is what makes the bearer token a plain Kubernetes
// bootstrap token that any client, and kubeadm's tools, understand.
package pki
