package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Defaults for Options.
const (
	DefaultServiceCIDR   = "100.65.0.0/16"
	DefaultClusterDomain = "cluster.local"
)

// Identities in the certificates and tokens EnsureCluster makes.
const (
	// AdminUser is the common name of the admin client certificate, in GroupMasters.
	AdminUser    = "gantry-admin"
	GroupMasters = user.SystemPrivilegedGroup
	// GroupBootstrappers is the group of every bootstrap token's user,
	// system:bootstrap:<token id>.
	GroupBootstrappers = "system:bootstrappers"
	// ServingCommonName is the subject of the API serving certificate.
	ServingCommonName = "gantry-apiserver"
	// KubeletClientUser is the common name of the certificate the API server presents to
	// node agents (logs, exec, attach, port-forward, stats), in GroupMasters, as kubeadm's
	// apiserver-kubelet-client.
	KubeletClientUser = "kube-apiserver-kubelet-client"
)

// Options says what the cluster's certificates must cover. The zero value is valid.
type Options struct {
	// ServiceCIDR is the cluster IP range, or two comma-separated ranges for dual stack;
	// the first address of each is the kubernetes service's and goes in the serving
	// certificate. Default DefaultServiceCIDR.
	ServiceCIDR string
	// ClusterDomain is the DNS domain of services. Default DefaultClusterDomain.
	ClusterDomain string
	// ExtraSANs are more names or IP addresses for the serving certificate.
	ExtraSANs []string
	// Port, if not 0, is the local API port: EnsureCluster then writes admin.kubeconfig
	// pointing at https://127.0.0.1:Port. Leave it 0 when the port is not known yet and
	// call Cluster.WriteAdminKubeconfig once it is.
	Port int

	// lookupHost replaces the host's name and addresses in tests.
	lookupHost func() (hostname string, addrs []net.IP, err error)
}

func (o Options) withDefaults() Options {
	if strings.TrimSpace(o.ServiceCIDR) == "" {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	o.ClusterDomain = strings.Trim(o.ClusterDomain, ".")
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	return o
}

// Paths are where a cluster's files live under its data directory.
type Paths struct {
	DataDir, PKIDir       string
	CACert, CAKey         string
	ServerCert, ServerKey string
	AdminCert, AdminKey   string
	// KubeletClientCert and KubeletClientKey are the API server's client certificate
	// toward node agents.
	KubeletClientCert, KubeletClientKey string
	AdminKubeconfig                     string
	Token                               string
}

// PathsFor lays out the files of the cluster whose data directory is dataDir.
func PathsFor(dataDir string) Paths {
	pki := filepath.Join(dataDir, "pki")
	return Paths{
		DataDir:           dataDir,
		PKIDir:            pki,
		CACert:            filepath.Join(pki, "ca.crt"),
		CAKey:             filepath.Join(pki, "ca.key"),
		ServerCert:        filepath.Join(pki, "server.crt"),
		ServerKey:         filepath.Join(pki, "server.key"),
		AdminCert:         filepath.Join(pki, "admin.crt"),
		AdminKey:          filepath.Join(pki, "admin.key"),
		KubeletClientCert: filepath.Join(pki, "apiserver-kubelet-client.crt"),
		KubeletClientKey:  filepath.Join(pki, "apiserver-kubelet-client.key"),
		AdminKubeconfig:   filepath.Join(dataDir, "admin.kubeconfig"),
		Token:             filepath.Join(dataDir, "token"),
	}
}

// Cluster is the loaded credentials of a cluster. Its fields must not be modified.
type Cluster struct {
	CA *CA
	// ServingCert is the API server's certificate; its chain ends with the CA certificate,
	// so that an agent holding only the join token can find and check it.
	ServingCert tls.Certificate
	// ClientCAs holds the CA, for tls.Config.ClientCAs and authn.NewX509.
	ClientCAs *x509.CertPool
	// KubeletClientCert is what the API server presents to node agents: CN
	// KubeletClientUser, O GroupMasters.
	KubeletClientCert tls.Certificate
	Token             Token
	Paths             Paths
	// Changed says what this EnsureCluster call created or replaced and why, one entry per
	// file, for the caller to log. It is empty when everything was reused.
	Changed []string

	adminCertPEM, adminKeyPEM []byte
}

// EnsureCluster loads the cluster's CA, certificates and join token from dataDir, creating
// or renewing what is missing or no longer fits; see the package documentation for the
// files and rules. It does not replace an existing CA.
func EnsureCluster(dataDir string, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	paths := PathsFor(dataDir)
	if err := os.MkdirAll(paths.PKIDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", paths.PKIDir, err)
	}
	if err := os.Chmod(paths.PKIDir, 0o700); err != nil {
		return nil, err
	}
	c := &Cluster{Paths: paths}
	now := time.Now()

	ca, created, err := ensureCA(paths)
	if err != nil {
		return nil, err
	}
	if created {
		c.note(paths.CACert, "created")
	}
	c.CA = ca
	c.ClientCAs = x509.NewCertPool()
	c.ClientCAs.AddCert(ca.Cert)

	want, err := servingNames(opts)
	if err != nil {
		return nil, err
	}
	servingPEM, servingKey, err := c.ensureLeaf(leaf{
		certPath: paths.ServerCert,
		keyPath:  paths.ServerKey,
		usage:    x509.ExtKeyUsageServerAuth,
		stale: func(cert *x509.Certificate) string {
			if missing := want.missing(cert); len(missing) > 0 {
				return "missing names " + strings.Join(missing, ", ")
			}
			return ""
		},
		issue: func(old *x509.Certificate) ([]byte, []byte, error) {
			all := want
			if old != nil {
				all.addCert(old) // names are only ever added
			}
			return ca.IssueServing(ServingCommonName, all.dns, all.ips, ServingValidity)
		},
	}, now)
	if err != nil {
		return nil, err
	}
	if c.ServingCert, err = tls.X509KeyPair(servingPEM, servingKey); err != nil {
		return nil, fmt.Errorf("load %s: %w", paths.ServerCert, err)
	}
	c.ServingCert.Certificate = append(c.ServingCert.Certificate, ca.Cert.Raw)

	c.adminCertPEM, c.adminKeyPEM, err = c.ensureLeaf(clientLeaf(ca, paths.AdminCert, paths.AdminKey, AdminUser), now)
	if err != nil {
		return nil, err
	}
	kubeletPEM, kubeletKey, err := c.ensureLeaf(clientLeaf(ca, paths.KubeletClientCert, paths.KubeletClientKey, KubeletClientUser), now)
	if err != nil {
		return nil, err
	}
	if c.KubeletClientCert, err = tls.X509KeyPair(kubeletPEM, kubeletKey); err != nil {
		return nil, fmt.Errorf("load %s: %w", paths.KubeletClientCert, err)
	}

	if c.Token, err = c.ensureToken(created); err != nil {
		return nil, err
	}
	if opts.Port != 0 {
		server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))
		if err := c.WriteAdminKubeconfig(paths.AdminKubeconfig, server); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// clientLeaf is a client certificate for user in GroupMasters.
func clientLeaf(ca *CA, certPath, keyPath, user string) leaf {
	return leaf{
		certPath: certPath,
		keyPath:  keyPath,
		usage:    x509.ExtKeyUsageClientAuth,
		stale: func(cert *x509.Certificate) string {
			if cert.Subject.CommonName != user || !slices.Equal(cert.Subject.Organization, []string{GroupMasters}) {
				return "subject is not " + user + " in " + GroupMasters
			}
			return ""
		},
		issue: func(*x509.Certificate) ([]byte, []byte, error) {
			return ca.IssueClient(user, []string{GroupMasters}, ClientValidity)
		},
	}
}

// WriteAdminKubeconfig writes a kubeconfig for the admin user of the cluster at server.
func (c *Cluster) WriteAdminKubeconfig(path, server string) error {
	return WriteKubeconfig(path, server, c.CA.CertPEM, c.adminCertPEM, c.adminKeyPEM)
}

func (c *Cluster) note(path, what string) {
	c.Changed = append(c.Changed, filepath.Base(path)+": "+what)
}

// ensureCA loads the CA, or creates it if ca.crt does not exist.
func ensureCA(paths Paths) (ca *CA, created bool, err error) {
	certPEM, err := os.ReadFile(paths.CACert)
	if errors.Is(err, os.ErrNotExist) {
		ca, keyPEM, err := NewCA("gantry-ca@" + strconv.FormatInt(time.Now().Unix(), 10))
		if err != nil {
			return nil, false, err
		}
		if err := writePair(paths.CACert, paths.CAKey, ca.CertPEM, keyPEM); err != nil {
			return nil, false, err
		}
		return ca, true, nil
	} else if err != nil {
		return nil, false, err
	}
	keyPEM, err := os.ReadFile(paths.CAKey)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("%s exists but %s does not: restore the CA key, or remove the CA to start a new cluster", paths.CACert, paths.CAKey)
	} else if err != nil {
		return nil, false, err
	}
	ca, err = LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, false, fmt.Errorf("load %s: %w", paths.CACert, err)
	}
	if now := time.Now(); now.After(ca.Cert.NotAfter) {
		return nil, false, fmt.Errorf("cluster CA %s expired at %s", paths.CACert, ca.Cert.NotAfter.Format(time.RFC3339))
	}
	return ca, false, nil
}

// leaf describes a certificate signed by the cluster CA that EnsureCluster keeps.
type leaf struct {
	certPath, keyPath string
	usage             x509.ExtKeyUsage
	// stale says why a certificate that is otherwise good must be replaced; "" keeps it.
	stale func(*x509.Certificate) string
	// issue makes a new certificate. old is the one it replaces if that was issued by the
	// cluster CA, else nil.
	issue func(old *x509.Certificate) (certPEM, keyPEM []byte, err error)
}

// ensureLeaf returns l's certificate and key from disk, or issues and writes new ones if
// they are missing or no longer good.
func (c *Cluster) ensureLeaf(l leaf, now time.Time) (certPEM, keyPEM []byte, err error) {
	certPEM, keyPEM, ok, err := readPair(l.certPath, l.keyPath)
	if err != nil {
		return nil, nil, err
	}
	reason := "created"
	var old *x509.Certificate
	if ok {
		old, reason = c.CA.check(certPEM, keyPEM, l.usage, now)
		if reason == "" && l.stale != nil {
			reason = l.stale(old)
		}
		if reason == "" {
			return certPEM, keyPEM, nil
		}
		reason = "reissued: " + reason
	}
	if certPEM, keyPEM, err = l.issue(old); err != nil {
		return nil, nil, err
	}
	if err := writePair(l.certPath, l.keyPath, certPEM, keyPEM); err != nil {
		return nil, nil, err
	}
	c.note(l.certPath, reason)
	return certPEM, keyPEM, nil
}

// check says why a certificate and key found on disk cannot be used as they are, or ""
// if they can. cert is the parsed certificate if ca issued it, else nil.
func (ca *CA) check(certPEM, keyPEM []byte, usage x509.ExtKeyUsage, now time.Time) (cert *x509.Certificate, reason string) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, "unreadable certificate: " + err.Error()
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, "not issued by the cluster CA"
	}
	if err := ca.verify(cert, usage, now); err != nil {
		return cert, err.Error()
	}
	if left := cert.NotAfter.Sub(now); left < RenewBefore {
		return cert, "expires at " + cert.NotAfter.Format(time.RFC3339)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return cert, "unreadable key: " + err.Error()
	}
	if !keyMatches(cert, key) {
		return cert, "key does not match certificate"
	}
	return cert, ""
}

// ensureToken loads the join token, or makes one if there is none or the CA is new.
func (c *Cluster) ensureToken(newCA bool) (Token, error) {
	path := c.Paths.Token
	if !newCA {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			t, err := ParseToken(string(data))
			if err != nil {
				return Token{}, fmt.Errorf("%s: %w", path, err)
			}
			if !t.MatchesCA(c.CA.Cert) {
				return Token{}, fmt.Errorf("%s: %w: it names another CA than %s; remove it to make a new one", path, ErrInvalidToken, c.Paths.CACert)
			}
			return t, nil
		case !errors.Is(err, os.ErrNotExist):
			return Token{}, err
		}
	}
	t, err := NewToken(c.CA.Cert)
	if err != nil {
		return Token{}, err
	}
	if err := writeFile(path, []byte(t.String()+"\n"), 0o600); err != nil {
		return Token{}, fmt.Errorf("write %s: %w", path, err)
	}
	c.note(path, "created")
	return t, nil
}
