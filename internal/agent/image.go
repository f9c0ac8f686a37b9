package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	credsecrets "k8s.io/kubernetes/pkg/credentialprovider/secrets"
	"k8s.io/kubernetes/pkg/kubelet/events"
)

// ensureImage makes c's image present as its imagePullPolicy says and returns the
// runtime's reference to it. On failure it records why c waits (ErrImagePull,
// ImagePullBackOff, ErrImageNeverPull) and how long to wait before trying again.
func (a *Agent) ensureImage(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, sandboxConfig *runtimeapi.PodSandboxConfig) (string, time.Duration, error) {
	ref := containerRef(pod, c)
	spec := &runtimeapi.ImageSpec{Image: c.Image}
	present := ""
	if st, err := a.images.ImageStatus(ctx, spec, false); err == nil && st.GetImage() != nil {
		present = st.GetImage().Id
	}
	if c.ImagePullPolicy == corev1.PullNever && present == "" {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		w.waiting[c.Name] = waitingReason{"ErrImageNeverPull", msg}
		a.recorder.Event(ref, corev1.EventTypeWarning, events.ErrImageNeverPullPolicy, msg)
		return "", retryAfter, fmt.Errorf("%s", msg)
	}
	if present != "" && c.ImagePullPolicy != corev1.PullAlways {
		a.recorder.Eventf(ref, corev1.EventTypeNormal, events.PulledImage, "Container image %q already present on machine", c.Image)
		return present, 0, nil
	}
	key := string(pod.UID) + "/" + c.Image
	now := a.clock.Now()
	if a.pulls.IsInBackOffSince(key, now) {
		last := w.waiting[c.Name]
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		if last.reason == "ErrImagePull" || last.reason == "ImagePullBackOff" {
			w.waiting[c.Name] = waitingReason{"ImagePullBackOff", msg + ": " + last.message}
		} else {
			w.waiting[c.Name] = waitingReason{"ImagePullBackOff", msg}
		}
		a.recorder.Event(ref, corev1.EventTypeNormal, events.BackOffPullImage, msg)
		return "", a.pulls.Get(key), fmt.Errorf("%s", msg)
	}
	auth, err := a.pullAuth(ctx, pod, c.Image)
	if err != nil {
		w.waiting[c.Name] = waitingReason{"ErrImagePull", err.Error()}
		return "", retryAfter, err
	}
	a.recorder.Eventf(ref, corev1.EventTypeNormal, events.PullingImage, "Pulling image %q", c.Image)
	start := a.clock.Now()
	imageRef, err := a.images.PullImage(ctx, spec, auth, sandboxConfig)
	if err != nil {
		a.pulls.Next(key, a.clock.Now())
		w.waiting[c.Name] = waitingReason{"ErrImagePull", err.Error()}
		a.recorder.Eventf(ref, corev1.EventTypeWarning, events.FailedToPullImage, "Failed to pull image %q: %v", c.Image, err)
		a.recorder.Event(ref, corev1.EventTypeWarning, events.FailedToPullImage, "Error: ErrImagePull")
		return "", a.pulls.Get(key), err
	}
	a.pulls.Reset(key)
	took := a.clock.Since(start).Truncate(time.Millisecond)
	var size uint64
	if st, err := a.images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: imageRef}, false); err == nil && st.GetImage() != nil {
		size = st.GetImage().Size
	}
	a.recorder.Eventf(ref, corev1.EventTypeNormal, events.PulledImage,
		"Successfully pulled image %q in %v (%v including waiting). Image size: %v bytes.", c.Image, took, took, size)
	return imageRef, 0, nil
}

// pullAuth finds credentials for image in the pod's imagePullSecrets, matched as the kubelet
// matches them (registry host and path prefix).
func (a *Agent) pullAuth(ctx context.Context, pod *corev1.Pod, image string) (*runtimeapi.AuthConfig, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	var secrets []corev1.Secret
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			// The kubelet pulls without a missing secret and lets the registry decide.
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedToRetrieveImagePullSecret",
				"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name)
			continue
		}
		secrets = append(secrets, *s)
	}
	keyring, err := credsecrets.MakeDockerKeyring(secrets, &credentialprovider.BasicDockerKeyring{})
	if err != nil {
		return nil, fmt.Errorf("read image pull secrets: %w", err)
	}
	creds, ok := keyring.Lookup(image)
	if !ok || len(creds) == 0 {
		return nil, nil
	}
	c := creds[0]
	return &runtimeapi.AuthConfig{
		Username: c.Username, Password: c.Password, Auth: c.Auth, ServerAddress: c.ServerAddress,
		IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken,
	}, nil
}
