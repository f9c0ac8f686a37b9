// Package csrsigning approves and signs CertificateSigningRequests, as kube-controller-manager's
// csrapproving and csrsigning controllers do, so that a node holding a bootstrap token ends up
// with a client certificate of the cluster CA.
//
// Approval (Approve, pure): a request for the signer kubernetes.io/kube-apiserver-client-kubelet
// whose certificate request is a kubelet client certificate (CN system:node:<name>, O
// system:nodes, no SANs, usages client auth + digital signature [+ key encipherment], checked by
// Kubernetes' own ValidateKubeletClientCSR) is approved, with reason AutoApproved, if its
// requester is in system:bootstrappers (a joining node) or is that very node renewing its
// certificate (username system:node:<name>, in system:nodes). Upstream asks a
// SubjectAccessReview for certificatesigningrequests/nodeclient and /selfnodeclient; those
// two rules are what kubeadm's default RBAC grants. Anything else is left for a person
// (`kubectl certificate approve|deny`).
//
// Signing: approved, not failed, unsigned requests for kubernetes.io/kube-apiserver-client-kubelet
// and kubernetes.io/kube-apiserver-client are signed with the cluster CA by upstream's
// authority package (its permissive policy: 5 minutes of backdating, the requested usages,
// spec.expirationSeconds honoured between 10 minutes and the default duration, one year). A
// request that the signer's checks reject gets the Failed condition with reason
// SignerValidationFailure, as upstream. Requests for other signers are not ours.
package csrsigning
