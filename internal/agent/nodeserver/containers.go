package nodeserver

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	kubetypes "k8s.io/kubelet/pkg/types"
)

// requestError is an error the handler answers with its code and message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &requestError{code: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// sandbox returns the newest sandbox of the pod namespace/name: the pod as it is now, not an
// earlier pod of the same name whose sandbox is still around.
func (s *Server) sandbox(ctx context.Context, namespace, name string) (*runtimeapi.PodSandbox, error) {
	list, err := s.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{
		kubetypes.KubernetesPodNamespaceLabel: namespace,
		kubetypes.KubernetesPodNameLabel:      name,
	}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %s/%s: %w", namespace, name, err)
	}
	if len(list) == 0 {
		return nil, notFound("pod %q does not exist", name)
	}
	return slices.MaxFunc(list, func(a, b *runtimeapi.PodSandbox) int {
		return cmp.Compare(a.CreatedAt, b.CreatedAt)
	}), nil
}

// containers lists the pod's containers named container, newest first: the current one, then
// the ones it replaced.
func (s *Server) containers(ctx context.Context, namespace, pod, container string) ([]*runtimeapi.Container, error) {
	sb, err := s.sandbox(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	list, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{
		kubetypes.KubernetesPodNamespaceLabel:  namespace,
		kubetypes.KubernetesPodNameLabel:       pod,
		kubetypes.KubernetesPodUIDLabel:        sb.Labels[kubetypes.KubernetesPodUIDLabel],
		kubetypes.KubernetesContainerNameLabel: container,
	}})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s/%s: %w", namespace, pod, err)
	}
	slices.SortFunc(list, func(a, b *runtimeapi.Container) int {
		if c := cmp.Compare(b.GetMetadata().GetAttempt(), a.GetMetadata().GetAttempt()); c != 0 {
			return c
		}
		return cmp.Compare(b.CreatedAt, a.CreatedAt)
	})
	return list, nil
}

// runningContainer is the container exec and attach reach, as the kubelet finds it among the
// running containers of the pod.
func (s *Server) runningContainer(ctx context.Context, namespace, pod, container string) (*runtimeapi.Container, error) {
	list, err := s.containers(ctx, namespace, pod, container)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c, nil
		}
	}
	return nil, notFound("container not found (%q)", container)
}
