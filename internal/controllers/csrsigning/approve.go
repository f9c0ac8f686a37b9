package csrsigning

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	capihelper "k8s.io/kubernetes/pkg/apis/certificates"
)

// Groups and names the approval rules trust.
const (
	groupBootstrappers = "system:bootstrappers"
	groupNodes         = "system:nodes"
	nodeUserPrefix     = "system:node:"
)

// Approve decides whether csr, whose request parsed as req, is approved automatically, and
// says why in the message upstream gives. It decides nothing about requests already approved
// or denied.
func Approve(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) (bool, string) {
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		return false, "signer " + csr.Spec.SignerName + " is not auto-approved"
	}
	if err := validateKubeletClient(req, csr.Spec.Usages); err != nil {
		return false, "not a kubelet client certificate request: " + err.Error()
	}
	if csr.Spec.Username == req.Subject.CommonName && slices.Contains(csr.Spec.Groups, groupNodes) {
		return true, "Auto approving self kubelet client certificate after SubjectAccessReview."
	}
	if slices.Contains(csr.Spec.Groups, groupBootstrappers) {
		return true, "Auto approving kubelet client certificate after SubjectAccessReview."
	}
	return false, fmt.Sprintf("requester %s is neither a bootstrap token nor the node %s", csr.Spec.Username, req.Subject.CommonName)
}

// validateKubeletClient is upstream's check of a kubelet client certificate request, plus a
// node name that is not empty.
func validateKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if err := capihelper.ValidateKubeletClientCSR(req, usageSet(usages)); err != nil {
		return err
	}
	if strings.TrimPrefix(req.Subject.CommonName, nodeUserPrefix) == "" {
		return fmt.Errorf("the common name %q names no node", req.Subject.CommonName)
	}
	return nil
}

// validateAPIServerClient is upstream's check of kubernetes.io/kube-apiserver-client
// requests: client auth, optionally digital signature and key encipherment, nothing else.
func validateAPIServerClient(usages []certificatesv1.KeyUsage) error {
	hasClientAuth := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			hasClientAuth = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !hasClientAuth {
		return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
	}
	return nil
}

func usageSet(usages []certificatesv1.KeyUsage) sets.String {
	s := sets.NewString()
	for _, u := range usages {
		s.Insert(string(u))
	}
	return s
}

// approval reports whether csr carries a True Approved or Denied condition.
func approval(csr *certificatesv1.CertificateSigningRequest) (approved, denied bool) {
	for _, c := range csr.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		}
	}
	return approved, denied
}

// failed reports whether csr carries a True Failed condition.
func failed(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
