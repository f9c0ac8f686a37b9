package csrsigning

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/pki"
)

var (
	kubeletUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	bootstrapper  = []string{"system:bootstrappers", "system:bootstrappers:gantry:nodes", "system:authenticated"}
	nodes         = []string{"system:nodes", "system:authenticated"}
)

// request makes a PEM certificate request for subject (and SANs, if ips).
func request(t *testing.T, cn string, orgs []string, ips ...net.IP) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func newCSR(name, signer, user string, groups []string, usages []certificatesv1.KeyUsage, req []byte) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: req, SignerName: signer, Usages: usages, Username: user, Groups: groups,
		},
	}
}

func TestApprove(t *testing.T) {
	node := request(t, "system:node:n1", []string{"system:nodes"})
	kubelet := certificatesv1.KubeAPIServerClientKubeletSignerName
	tests := []struct {
		name string
		csr  *certificatesv1.CertificateSigningRequest
		want bool
	}{
		{"bootstrap token joins", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, node), true},
		{"with key encipherment", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper,
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}, node), true},
		{"node renews itself", newCSR("a", kubelet, "system:node:n1", nodes, kubeletUsages, node), true},
		{"node asks for another node", newCSR("a", kubelet, "system:node:n2", nodes, kubeletUsages, node), false},
		{"user outside both groups", newCSR("a", kubelet, "alice", []string{"system:authenticated"}, kubeletUsages, node), false},
		{"node name but not in system:nodes", newCSR("a", kubelet, "system:node:n1", []string{"system:authenticated"}, kubeletUsages, node), false},
		{"wrong common name", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "admin", []string{"system:nodes"})), false},
		{"empty node name", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:", []string{"system:nodes"})), false},
		{"masters organization", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:masters"})), false},
		{"extra organization", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:nodes", "system:masters"})), false},
		{"IP SAN", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:nodes"}, net.ParseIP("127.0.0.1"))), false},
		{"server auth usage", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper,
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}, node), false},
		{"client auth missing", newCSR("a", kubelet, "system:bootstrap:abc123", bootstrapper, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature}, node), false},
		{"other signer", newCSR("a", certificatesv1.KubeAPIServerClientSignerName, "system:bootstrap:abc123", bootstrapper, kubeletUsages, node), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block, _ := pem.Decode(tt.csr.Spec.Request)
			req, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if got, msg := Approve(tt.csr, req); got != tt.want {
				t.Errorf("Approve = %v (%s), want %v", got, msg, tt.want)
			}
		})
	}
}

// fixture is a controller over a fake clientset holding objs; reconcile copies an object
// into the controller's cache, as the informer would, before reconciling it.
type fixture struct {
	t       *testing.T
	c       *Controller
	client  *fake.Clientset
	indexer cache.Indexer
	ca      *pki.CA
}

func newFixture(t *testing.T, objs ...*certificatesv1.CertificateSigningRequest) *fixture {
	t.Helper()
	ca, _, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, ca)
	for _, o := range objs {
		if _, err := client.CertificatesV1().CertificateSigningRequests().Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	indexer := factory.Certificates().V1().CertificateSigningRequests().Informer().GetIndexer()
	return &fixture{t: t, c: c, client: client, indexer: indexer, ca: ca}
}

func (f *fixture) reconcile(name string) *certificatesv1.CertificateSigningRequest {
	f.t.Helper()
	ctx := context.Background()
	current, err := f.client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.indexer.Update(current); err != nil {
		f.t.Fatal(err)
	}
	if err := f.c.Reconcile(ctx, name); err != nil {
		f.t.Fatalf("Reconcile: %v", err)
	}
	out, err := f.client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func condition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequestCondition {
	for i := range csr.Status.Conditions {
		if csr.Status.Conditions[i].Type == t {
			return &csr.Status.Conditions[i]
		}
	}
	return nil
}

func TestReconcileApprovesAndSigns(t *testing.T) {
	kubelet := certificatesv1.KubeAPIServerClientKubeletSignerName
	f := newFixture(t, newCSR("node-csr", kubelet, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:nodes"})))

	approved := f.reconcile("node-csr")
	c := condition(approved, certificatesv1.CertificateApproved)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "AutoApproved" {
		t.Fatalf("conditions after the first pass: %+v", approved.Status.Conditions)
	}
	if len(approved.Status.Certificate) != 0 {
		t.Fatal("signed before approval was written")
	}

	signed := f.reconcile("node-csr")
	block, _ := pem.Decode(signed.Status.Certificate)
	if block == nil {
		t.Fatalf("no certificate: %+v", signed.Status)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not verify as a client certificate of the CA: %v", err)
	}
	if cert.Subject.CommonName != "system:node:n1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject %v", cert.Subject)
	}
	if life := cert.NotAfter.Sub(time.Now()); life < 360*24*time.Hour {
		t.Errorf("certificate lasts %s", life)
	}

	// Once signed, nothing more happens.
	again := f.reconcile("node-csr")
	if string(again.Status.Certificate) != string(signed.Status.Certificate) {
		t.Error("signed twice")
	}
}

func TestReconcileLeavesOthersAlone(t *testing.T) {
	apiClient := certificatesv1.KubeAPIServerClientSignerName
	f := newFixture(t,
		newCSR("manual", apiClient, "alice", []string{"system:authenticated"}, []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, request(t, "bob", []string{"devs"})),
		newCSR("other-signer", "example.com/signer", "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:nodes"})),
		newCSR("bad-usages", apiClient, "alice", nil, []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}, request(t, "bob", nil)),
	)
	if got := f.reconcile("manual"); len(got.Status.Conditions) != 0 || len(got.Status.Certificate) != 0 {
		t.Errorf("a kube-apiserver-client request was approved or signed without a person: %+v", got.Status)
	}
	if got := f.reconcile("other-signer"); len(got.Status.Conditions) != 0 {
		t.Errorf("another signer's request was touched: %+v", got.Status)
	}

	// Approved by a person: signed for kube-apiserver-client, failed if the usages are wrong.
	for _, name := range []string{"manual", "bad-usages"} {
		csr, _ := f.client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"})
		if _, err := f.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(context.Background(), name, csr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.reconcile("manual"); len(got.Status.Certificate) == 0 {
		t.Errorf("approved kube-apiserver-client request not signed: %+v", got.Status)
	}
	got := f.reconcile("bad-usages")
	if c := condition(got, certificatesv1.CertificateFailed); c == nil || c.Reason != "SignerValidationFailure" || len(got.Status.Certificate) != 0 {
		t.Errorf("request with server auth usage: %+v", got.Status)
	}

	// Denied requests stay unsigned.
	denied := newCSR("denied", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:bootstrap:abc123", bootstrapper, kubeletUsages, request(t, "system:node:n1", []string{"system:nodes"}))
	denied.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "KubectlDeny"}}
	if _, err := f.client.CertificatesV1().CertificateSigningRequests().Create(context.Background(), denied, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := f.reconcile("denied"); condition(got, certificatesv1.CertificateApproved) != nil || len(got.Status.Certificate) != 0 {
		t.Errorf("denied request: %+v", got.Status)
	}
}

func TestTTL(t *testing.T) {
	c := &Controller{duration: DefaultDuration}
	for _, tt := range []struct {
		seconds *int32
		want    time.Duration
	}{
		{nil, DefaultDuration},
		{ptr(int32(60)), 10 * time.Minute},
		{ptr(int32(3600)), time.Hour},
		{ptr(int32(1 << 30)), DefaultDuration},
	} {
		if got := c.ttl(tt.seconds); got != tt.want {
			t.Errorf("ttl(%v) = %s, want %s", tt.seconds, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
