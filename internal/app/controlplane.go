package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/gantryhq/gantry/internal/pki"
)

// loopbackConfig is the rest.Config the server's own parts use to reach its API as user in group: a
// client certificate of the cluster CA, with rate limits fit for a local connection. Like
// kube-controller-manager's, it speaks protobuf, the cheapest form to encode and decode;
// JSON is accepted for what has no protobuf form.
func loopbackConfig(cluster *pki.Cluster, url, user, group string) (*rest.Config, error) {
	certPEM, keyPEM, err := cluster.CA.IssueClient(user, []string{group}, pki.ClientValidity)
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate: %w", user, err)
	}
	return &rest.Config{
		Host: url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: cluster.CA.CertPEM, CertData: certPEM, KeyData: keyPEM,
		},
		ContentConfig: rest.ContentConfig{
			ContentType:        runtime.ContentTypeProtobuf,
			AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON,
		},
		UserAgent: user,
		QPS:       5000,
		Burst:     10000,
	}, nil
}

// leaderElected runs fn while this process holds the Lease kube-system/name, so that of several
// servers exactly one runs each control loop. fn's context ends when leadership is lost.
func leaderElected(ctx context.Context, cfg *rest.Config, name string, fn func(ctx context.Context)) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	identity := fmt.Sprintf("%s_%d_%d", host, os.Getpid(), time.Now().UnixNano())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	log := slog.Default().With("lease", name)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("became leader")
				fn(ctx)
			},
			OnStoppedLeading: func() { log.Info("stopped leading") },
		},
	})
	if err != nil {
		return err
	}
	// Run returns when leadership is lost; campaign again until the server stops.
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	return nil
}
