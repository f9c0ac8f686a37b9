package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func testCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-1", ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			Username:   "system:masters-wannabe",
			Groups:     []string{"system:masters"},
		},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{
			{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "SelfApproved"},
		}},
	}
}

func TestCertificateSigningRequestRules(t *testing.T) {
	s := lookup(t, certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest")).Strategy
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "system:bootstrap:abc123", Groups: []string{"system:bootstrappers"}})

	csr := testCSR(t)
	s.PrepareForCreate(ctx, csr)
	if csr.Spec.Username != "system:bootstrap:abc123" || !slices.Equal(csr.Spec.Groups, []string{"system:bootstrappers"}) {
		t.Errorf("requester %q %v, want the creating user", csr.Spec.Username, csr.Spec.Groups)
	}
	if len(csr.Status.Conditions) != 0 {
		t.Errorf("created pre-approved: %v", csr.Status.Conditions)
	}
	if errs := s.Validate(ctx, csr); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	bad := csr.DeepCopy()
	bad.Spec.Request = []byte("not a request")
	if errs := s.Validate(ctx, bad); len(errs) == 0 {
		t.Error("a garbage request is valid")
	}

	t.Run("approval changes only conditions", func(t *testing.T) {
		approved := csr.DeepCopy()
		approved.Spec.Username = "someone-else"
		approved.Status.Certificate = []byte("forged")
		approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"})
		s.PrepareForApprovalUpdate(ctx, approved, csr)
		if approved.Spec.Username != csr.Spec.Username || approved.Status.Certificate != nil {
			t.Errorf("approval changed spec or certificate: %q %q", approved.Spec.Username, approved.Status.Certificate)
		}
		if len(approved.Status.Conditions) != 1 || approved.Status.Conditions[0].LastUpdateTime.IsZero() {
			t.Errorf("conditions %+v", approved.Status.Conditions)
		}
		if errs := s.ValidateApprovalUpdate(ctx, approved, csr); len(errs) != 0 {
			t.Errorf("ValidateApprovalUpdate: %v", errs)
		}
	})
	t.Run("status cannot approve", func(t *testing.T) {
		status := csr.DeepCopy()
		status.Status.Conditions = append(status.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Sneaky"})
		s.PrepareForStatusUpdate(ctx, status, csr)
		if errs := s.ValidateStatusUpdate(ctx, status, csr); len(errs) == 0 {
			t.Error("a status write approved the request")
		}
	})
	t.Run("update changes nothing of spec or status", func(t *testing.T) {
		upd := csr.DeepCopy()
		upd.Labels = map[string]string{"a": "b"}
		upd.Spec.SignerName = "example.com/other"
		s.PrepareForUpdate(ctx, upd, csr)
		if upd.Spec.SignerName != csr.Spec.SignerName || upd.Labels["a"] != "b" {
			t.Errorf("update: signer %q labels %v", upd.Spec.SignerName, upd.Labels)
		}
	})
	if f := s.Fields(csr); f["spec.signerName"] != certificatesv1.KubeAPIServerClientKubeletSignerName {
		t.Errorf("fields %v", f)
	}
}
