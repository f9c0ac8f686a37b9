package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/internal/auth/bootstraptoken"
	"github.com/gantryhq/gantry/internal/pki"
)

func newTokenCommand() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke join tokens (bootstrap-token Secrets in kube-system)",
		Long: `Join tokens let a machine join the cluster: ` + "`gantry agent --server URL --token TOKEN`" + `.
They are Kubernetes bootstrap tokens stored as Secrets kube-system/bootstrap-token-<id>;
the commands work through the admin kubeconfig (--kubeconfig, else KUBECONFIG, else the
local server's), so they work against a running server.`,
	}
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig (default: KUBECONFIG, else DATA/admin.kubeconfig)")

	var ttl time.Duration
	var description string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, ca, err := adminClient(kubeconfig)
			if err != nil {
				return err
			}
			t, err := createToken(cmd.Context(), client, ca, ttl, description, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.String())
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token works (0: until revoked)")
	create.Flags().StringVar(&description, "description", "", "what the token is for, shown by `gantry token list`")

	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens: id, time left, expiry and description (never the secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := adminClient(kubeconfig)
			if err != nil {
				return err
			}
			return listTokens(cmd.Context(), client, cmd.OutOrStdout(), time.Now())
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a join token by its id (or the whole token); nodes that joined with it keep their certificates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := adminClient(kubeconfig)
			if err != nil {
				return err
			}
			id, err := revokeToken(cmd.Context(), client, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", id)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// adminClient is a client from the admin kubeconfig and the cluster CA it trusts, which the
// printed tokens name by hash.
func adminClient(kubeconfig string) (kubernetes.Interface, *x509.Certificate, error) {
	if kubeconfig == "" {
		kubeconfig = filepath.SplitList(os.Getenv("KUBECONFIG"))[0]
	}
	if kubeconfig == "" {
		kubeconfig = filepath.Join(defaultDataDir(), "admin.kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	ca, err := clusterCA(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return client, ca, nil
}

// clusterCA is the CA certificate cfg trusts: the first of its bundle.
func clusterCA(cfg *rest.Config) (*x509.Certificate, error) {
	data := cfg.TLSClientConfig.CAData
	if len(data) == 0 && cfg.TLSClientConfig.CAFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, err
		}
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate authority to name in the token")
	}
	return x509.ParseCertificate(block.Bytes)
}

// createToken stores a new node token expiring ttl after now (0: never) and returns it.
func createToken(ctx context.Context, client kubernetes.Interface, ca *x509.Certificate, ttl time.Duration, description string, now time.Time) (pki.Token, error) {
	if ttl < 0 {
		return pki.Token{}, fmt.Errorf("--ttl %s: must not be negative", ttl)
	}
	t, err := pki.NewToken(ca)
	if err != nil {
		return pki.Token{}, err
	}
	s := bootstraptoken.ForNodes(t.ID, t.Secret, ttl, description, now).ToSecret()
	if _, err := client.CoreV1().Secrets(bootstraptoken.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return pki.Token{}, fmt.Errorf("store token %s: %w", t.ID, err)
	}
	return t, nil
}

// listTokens writes a table of the bootstrap tokens, ordered by id.
func listTokens(ctx context.Context, client kubernetes.Interface, w io.Writer, now time.Time) error {
	list, err := client.CoreV1().Secrets(bootstraptoken.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	var tokens []bootstraptoken.Token
	for i := range list.Items {
		t, err := bootstraptoken.ParseSecret(&list.Items[i])
		if err != nil {
			continue // another kind of secret, or a token unusable to join
		}
		tokens = append(tokens, t)
	}
	slices.SortFunc(tokens, func(a, b bootstraptoken.Token) int { return strings.Compare(a.ID, b.ID) })
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tTTL\tEXPIRES\tDESCRIPTION")
	for _, t := range tokens {
		ttl, expires := "<forever>", "<never>"
		if !t.Expires.IsZero() {
			expires = t.Expires.UTC().Format(time.RFC3339)
			ttl = "expired"
			if !t.Expired(now) {
				ttl = duration.ShortHumanDuration(t.Expires.Sub(now))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, ttl, expires, t.Description)
	}
	return tw.Flush()
}

// revokeToken deletes the token named by arg, an id or a whole token, and returns its id.
func revokeToken(ctx context.Context, client kubernetes.Interface, arg string) (string, error) {
	id := arg
	if strings.HasPrefix(arg, pki.TokenPrefix+".") {
		t, err := pki.ParseToken(arg)
		if err != nil {
			return "", err
		}
		id = t.ID
	}
	if !bootstraptoken.ValidID(id) {
		return "", fmt.Errorf("%q is not a token id (6 characters of [a-z0-9])", id)
	}
	err := client.CoreV1().Secrets(bootstraptoken.Namespace).Delete(ctx, bootstraptoken.SecretName(id), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no token %s", id)
	}
	if err != nil {
		return "", fmt.Errorf("revoke token %s: %w", id, err)
	}
	return id, nil
}
