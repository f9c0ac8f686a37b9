package csrsigning

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	capihelper "k8s.io/kubernetes/pkg/apis/certificates"
	"k8s.io/kubernetes/pkg/controller/certificates/authority"

	"github.com/gantryhq/gantry/internal/controller"
	"github.com/gantryhq/gantry/internal/pki"
)

// DefaultDuration is how long signed certificates last unless the request asks for less, as
// kube-controller-manager's --cluster-signing-duration.
const DefaultDuration = 365 * 24 * time.Hour

// Controller approves and signs CertificateSigningRequests (see the package comment).
type Controller struct {
	client   kubernetes.Interface
	csrs     certificateslisters.CertificateSigningRequestLister
	synced   cache.InformerSynced
	queue    *controller.Controller
	ca       *authority.CertificateAuthority
	duration time.Duration
}

// New returns a controller over factory's CSR informer that signs with ca. The caller starts
// factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, ca *pki.CA) *Controller {
	inf := factory.Certificates().V1().CertificateSigningRequests()
	c := &Controller{
		client:   client,
		csrs:     inf.Lister(),
		synced:   inf.Informer().HasSynced,
		ca:       &authority.CertificateAuthority{Certificate: ca.Cert, PrivateKey: ca.Key},
		duration: DefaultDuration,
	}
	c.queue = controller.New("csrsigning", c)
	inf.Informer().AddEventHandler(c.queue.Handler())
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, 2, c.synced)
}

// Reconcile approves the request named by key if the rules allow it, then signs it once it
// is approved.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	cached, err := c.csrs.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(cached.Status.Certificate) > 0 || failed(cached) || !ours(cached.Spec.SignerName) {
		return nil
	}
	csr := cached.DeepCopy()
	req, err := capihelper.ParseCSR(csr.Spec.Request)
	if err != nil {
		// Validation parsed it when it was created; nothing to retry.
		return controller.Terminal(fmt.Errorf("csr %s: %w", key, err))
	}
	approved, denied := approval(csr)
	if denied {
		return nil
	}
	if !approved {
		ok, message := Approve(csr, req)
		if !ok {
			return nil // left for a person to approve or deny
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved", Message: message,
		})
		// The update brings the request back through the informer, approved, to be signed.
		if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("approve csr %s: %w", key, err)
		}
		return nil
	}
	return c.sign(ctx, csr, req)
}

// ours reports whether this controller signs for signer.
func ours(signer string) bool {
	return signer == certificatesv1.KubeAPIServerClientKubeletSignerName || signer == certificatesv1.KubeAPIServerClientSignerName
}

func (c *Controller) sign(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) error {
	var invalid error
	if csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName {
		invalid = validateKubeletClient(req, csr.Spec.Usages)
	} else {
		invalid = validateAPIServerClient(csr.Spec.Usages)
	}
	if invalid != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SignerValidationFailure",
			Message: invalid.Error(), LastUpdateTime: metav1.Now(),
		})
		if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark csr %s failed: %w", csr.Name, err)
		}
		return nil
	}
	der, err := c.ca.Sign(req.Raw, authority.PermissiveSigningPolicy{
		TTL:      c.ttl(csr.Spec.ExpirationSeconds),
		Usages:   csr.Spec.Usages,
		Backdate: 5 * time.Minute,
		Short:    8 * time.Hour,
	})
	if err != nil {
		return controller.Terminal(fmt.Errorf("sign csr %s: %w", csr.Name, err))
	}
	csr.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// A conflict means the cache was stale: the retry reads it again (a certificate already
	// written then ends it).
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write certificate of csr %s: %w", csr.Name, err)
	}
	return nil
}

// ttl is the certificate lifetime for a request asking for expirationSeconds (nil: the
// default), between 10 minutes and the default, as upstream's signer.
func (c *Controller) ttl(expirationSeconds *int32) time.Duration {
	if expirationSeconds == nil {
		return c.duration
	}
	d := time.Duration(*expirationSeconds) * time.Second
	return min(max(d, 10*time.Minute), c.duration)
}
