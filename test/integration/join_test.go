package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/bootstrap"
	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
	"github.com/gantryhq/gantry/internal/pki"
)

// gantry runs the gantry command line against c's admin kubeconfig and returns its output.
func (c *cluster) gantry(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := gantryCmd(ctx, []string{"KUBECONFIG=" + c.kubeconfig}, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("gantry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// createToken runs `gantry token create` and parses what it prints.
func (c *cluster) createToken(args ...string) pki.Token {
	c.t.Helper()
	out := c.gantry(append([]string{"token", "create"}, args...)...)
	t, err := pki.ParseToken(out)
	if err != nil {
		c.t.Fatalf("gantry token create printed %q: %v", out, err)
	}
	return t
}

// bearerStatus is the HTTP status of GET /api/v1/nodes with a bearer token.
func (c *cluster) bearerStatus(token string) int {
	c.t.Helper()
	code, _ := c.get(c.httpsClient(), "/apis/certificates.k8s.io/v1/certificatesigningrequests", token)
	return code
}

func TestJoinNode(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	token := c.createToken("--ttl", "1h", "--description", "rack 2")
	if !token.MatchesCA(mustReadCA(t, c)) {
		t.Fatalf("token %s does not name the cluster CA", token)
	}
	list := c.gantry("token", "list")
	if !strings.Contains(list, token.ID) || !strings.Contains(list, "rack 2") || strings.Contains(list, token.Secret) {
		t.Errorf("gantry token list:\n%s", list)
	}

	// Join as node n1, as `gantry agent --server --token` does.
	path := filepath.Join(t.TempDir(), "agent", "kubeconfig")
	opts := bootstrap.Options{Server: c.config.Host, Token: token.String(), NodeName: "n1", Kubeconfig: path}
	joinCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cfg, err := bootstrap.Config(joinCtx, opts)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: %v %v", path, fi, err)
	}
	if cert, _ := pem.Decode(cfg.TLSClientConfig.CertData); cert == nil {
		t.Fatal("no client certificate in the kubeconfig")
	} else if parsed, _ := x509.ParseCertificate(cert.Bytes); parsed.Subject.CommonName != "system:node:n1" {
		t.Errorf("certificate for %v", parsed.Subject)
	}
	node := kubernetes.NewForConfigOrDie(cfg)

	// What a node agent does.
	if _, err := node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node n1: %v", err)
	}
	if err := updateNode(ctx, node, "n1", false, func(n1 *corev1.Node) { n1.Labels = map[string]string{"rack": "2"} }); err != nil {
		t.Errorf("update node n1: %v", err)
	}
	err = updateNode(ctx, node, "n1", true, func(n1 *corev1.Node) {
		n1.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}
	})
	if err != nil {
		t.Errorf("update node n1 status: %v", err)
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n1"), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &metav1.MicroTime{Time: time.Now()}}}
	lease, err = node.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create lease: %v", err)
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	if _, err := node.CoordinationV1().Leases("kube-node-lease").Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Errorf("renew lease: %v", err)
	}
	if _, err := node.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"}); err != nil {
		t.Errorf("list pods: %v", err)
	}

	// What it may not do.
	if _, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n2, _ := node.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	n2.Labels = map[string]string{"taken": "over"}
	if _, err := node.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("update node n2 as n1: %v, want Forbidden", err)
	}
	if err := node.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete node n2 as n1: %v, want Forbidden", err)
	}
	other := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "gantry-controllers-x", Namespace: "kube-system"}}
	if _, err := node.CoordinationV1().Leases("kube-system").Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create a kube-system lease: %v, want Forbidden", err)
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
	if _, err := node.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create a deployment: %v, want Forbidden", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}}
	if _, err := node.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create a secret: %v, want Forbidden", err)
	}

	// The bootstrap token itself may only request certificates.
	bootCfg, _, err := bootstrap.TokenConfig(ctx, c.config.Host, token)
	if err != nil {
		t.Fatal(err)
	}
	boot := kubernetes.NewForConfigOrDie(bootCfg)
	if _, err := boot.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create a node with the bootstrap token: %v, want Forbidden", err)
	}

	// kubectl shows the approved, issued request, made by the token's user.
	csrs := c.kubectl("get", "csr")
	if !strings.Contains(csrs, "system:bootstrap:"+token.ID) || !strings.Contains(csrs, "Approved,Issued") || !strings.Contains(csrs, "kubernetes.io/kube-apiserver-client-kubelet") {
		t.Errorf("kubectl get csr:\n%s", csrs)
	}

	// A restart reuses the kubeconfig: no token, no new request.
	before := countCSRs(t, c)
	if _, err := bootstrap.Config(joinCtx, bootstrap.Options{Server: c.config.Host, NodeName: "n1", Kubeconfig: path}); err != nil {
		t.Fatalf("restart without a token: %v", err)
	}
	if n := countCSRs(t, c); n != before {
		t.Errorf("restart made %d new requests", n-before)
	}

	// A kubeconfig from another cluster (the machine was re-imaged or moved) joins again.
	otherCA, _, err := pki.NewCA("another-cluster")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := otherCA.IssueClient("system:node:n1", []string{"system:nodes"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKubeconfig(path, c.config.Host, otherCA.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if _, err := bootstrap.Config(joinCtx, bootstrap.Options{Server: c.config.Host, NodeName: "n1", Kubeconfig: path}); err == nil {
		t.Error("a kubeconfig of another cluster was used without a token")
	}
	again, err := bootstrap.Config(joinCtx, opts)
	if err != nil {
		t.Fatalf("join again: %v", err)
	}
	if n := countCSRs(t, c); n != before+1 {
		t.Errorf("joining again made %d requests, want 1", n-before)
	}
	if _, err := kubernetes.NewForConfigOrDie(again).CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); err != nil {
		t.Errorf("the new credentials do not work: %v", err)
	}
}

func TestJoinTokens(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	// The server's own join token is a Secret and works.
	data, err := os.ReadFile(filepath.Join(c.dataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	standing, err := pki.ParseToken(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+standing.ID, metav1.GetOptions{}); err != nil {
		t.Errorf("the data directory's token has no Secret: %v", err)
	}
	if code := c.bearerStatus(standing.BearerToken()); code != http.StatusOK {
		t.Errorf("the server's join token: %d, want 200", code)
	}

	// Revoked: refused (401) once the server's short cache has passed.
	token := c.createToken()
	if code := c.bearerStatus(token.BearerToken()); code != http.StatusOK {
		t.Fatalf("a new token: %d, want 200", code)
	}
	if out := c.gantry("token", "revoke", token.ID); !strings.Contains(out, token.ID) {
		t.Errorf("gantry token revoke: %s", out)
	}
	if strings.Contains(c.gantry("token", "list"), token.ID) {
		t.Error("a revoked token is listed")
	}
	eventually(t, "the revoked token to be refused", func() bool { return c.bearerStatus(token.BearerToken()) == http.StatusUnauthorized })

	// Expired: refused at once, and listed as expired.
	id, secret, err := bootstraptoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	expired := bootstraptoken.ForNodes(id, secret, time.Minute, "old", time.Now().Add(-time.Hour)).ToSecret()
	if _, err := c.client.CoreV1().Secrets("kube-system").Create(ctx, expired, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := c.bearerStatus(id + "." + secret); code != http.StatusUnauthorized {
		t.Errorf("an expired token: %d, want 401", code)
	}
	if list := c.gantry("token", "list"); !strings.Contains(list, id+"   expired") {
		t.Errorf("gantry token list does not show %s expired:\n%s", id, list)
	}

	// A token naming another CA never sends its secret: the TLS handshake fails first.
	otherCA, _, err := pki.NewCA("another-cluster")
	if err != nil {
		t.Fatal(err)
	}
	wrong := standing
	wrong.CAHash = pki.CAHash(otherCA.Cert)
	if _, _, err := bootstrap.TokenConfig(ctx, c.config.Host, wrong); err == nil || !strings.Contains(err.Error(), "does not contain the CA") {
		t.Errorf("a token of another CA: %v", err)
	}
	var requests atomic.Int32
	impostor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer impostor.Close()
	err = bootstrap.Join(ctx, impostor.URL, standing, "n1", filepath.Join(t.TempDir(), "kubeconfig"))
	if err == nil || requests.Load() != 0 {
		t.Errorf("joining a server without the token's CA: %v, %d requests reached it", err, requests.Load())
	}
}

func TestCSRManualApproval(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	request, err := certutil.MakeCSR(key, &pkix.Name{CommonName: "bob", Organization: []string{"devs"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "bob"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: request, SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Discovery and OpenAPI serve the kind.
	if out := c.kubectl("api-resources", "--api-group=certificates.k8s.io"); !strings.Contains(out, "certificatesigningrequests") || !strings.Contains(out, "csr") {
		t.Errorf("kubectl api-resources:\n%s", out)
	}
	if out := c.kubectl("explain", "csr.spec.signerName"); !strings.Contains(out, "signerName") {
		t.Errorf("kubectl explain csr.spec.signerName:\n%s", out)
	}
	if out := c.kubectl("get", "csr", "bob"); !strings.Contains(out, "Pending") || !strings.Contains(out, "gantry-admin") {
		t.Errorf("kubectl get csr bob before approval:\n%s", out)
	}
	// Not approved by anyone but a person.
	time.Sleep(500 * time.Millisecond)
	if got, _ := c.client.CertificatesV1().CertificateSigningRequests().Get(ctx, "bob", metav1.GetOptions{}); len(got.Status.Conditions) != 0 {
		t.Fatalf("approved by itself: %+v", got.Status.Conditions)
	}
	c.kubectl("certificate", "approve", "bob")
	var signed *certificatesv1.CertificateSigningRequest
	eventually(t, "the certificate to be issued", func() bool {
		signed, err = c.client.CertificatesV1().CertificateSigningRequests().Get(ctx, "bob", metav1.GetOptions{})
		return err == nil && len(signed.Status.Certificate) > 0
	})
	block, _ := pem.Decode(signed.Status.Certificate)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(mustReadCA(t, c))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || cert.Subject.CommonName != "bob" {
		t.Errorf("issued certificate %v: %v", cert.Subject, err)
	}
	if out := c.kubectl("get", "csr", "bob"); !strings.Contains(out, "Approved,Issued") {
		t.Errorf("kubectl get csr bob after approval:\n%s", out)
	}

	// A denied request stays unsigned.
	csr.Name = "carol"
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.kubectl("certificate", "deny", "carol")
	time.Sleep(500 * time.Millisecond)
	if out := c.kubectl("get", "csr", "carol"); !strings.Contains(out, "Denied") || strings.Contains(out, "Issued") {
		t.Errorf("kubectl get csr carol after denial:\n%s", out)
	}
}

func mustReadCA(t *testing.T, c *cluster) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func countCSRs(t *testing.T, c *cluster) int {
	t.Helper()
	list, err := c.client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}
