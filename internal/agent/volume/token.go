package volume

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// token is a service account token written into a projected volume.
type token struct {
	data    []byte
	refresh time.Time
}

// serviceAccountToken returns the token of a projected serviceAccountToken source, asking
// the TokenRequest API for a new one once 80% of the last one's life is gone (the kubelet's
// rule; Run's periodic refresh rewrites the file).
func (m *Manager) serviceAccountToken(ctx context.Context, pod *corev1.Pod, volume string, src *corev1.ServiceAccountTokenProjection, st *podState) ([]byte, error) {
	key := volume + "/" + src.Path
	m.mu.Lock()
	t, ok := st.tokens[key]
	m.mu.Unlock()
	if ok && time.Now().Before(t.refresh) {
		return t.data, nil
	}
	var audiences []string
	if src.Audience != "" {
		audiences = []string{src.Audience}
	}
	tr, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) && !m.tokenRequestSupported() {
		err = errors.New("the API server does not have TokenRequest endpoints enabled")
	}
	if err != nil {
		return nil, fmt.Errorf("failed to fetch token: %v", err)
	}
	issued := time.Now()
	life := time.Hour
	if tr.Status.ExpirationTimestamp.After(issued) {
		life = tr.Status.ExpirationTimestamp.Sub(issued)
	}
	t = token{data: []byte(tr.Status.Token), refresh: issued.Add(life * 8 / 10)}
	m.mu.Lock()
	st.tokens[key] = t
	m.mu.Unlock()
	return t.data, nil
}

// tokenRequestSupported reports whether the API serves serviceaccounts/token.
func (m *Manager) tokenRequestSupported() bool {
	list, err := m.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == "serviceaccounts/token" {
			return true
		}
	}
	return false
}
