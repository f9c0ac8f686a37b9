package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// setupEmptyDir makes an emptyDir: a world-writable directory on the agent's disk, or a
// tmpfs mounted on it for medium Memory.
func (m *Manager) setupEmptyDir(ctx context.Context, pod *corev1.Pod, dir string, src *corev1.EmptyDirVolumeSource) error {
	switch src.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		if err := m.mountMemory(ctx, pod, dir, src.SizeLimit); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown storage medium %q", src.Medium)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	// MkdirAll's mode is narrowed by the umask; the kubelet's emptyDir is 0777.
	return os.Chmod(dir, 0o777)
}

// mountMemory mounts a tmpfs on dir unless one is there. Its size is the kubelet's: the
// node's allocatable memory, lowered to the pod's memory limit and then to sizeLimit when
// those are smaller.
func (m *Manager) mountMemory(ctx context.Context, pod *corev1.Pod, dir string, sizeLimit *resource.Quantity) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	size, err := m.memorySize(ctx, pod, sizeLimit)
	if err != nil {
		return err
	}
	return mountTmpfs(dir, size)
}

func (m *Manager) memorySize(ctx context.Context, pod *corev1.Pod, sizeLimit *resource.Quantity) (int64, error) {
	allocatable, err := m.nodeAllocatable(ctx)
	if err != nil {
		return 0, err
	}
	size := allocatable.Memory().Value()
	if limit := podMemoryLimit(pod); limit > 0 && (size == 0 || limit < size) {
		size = limit
	}
	if sizeLimit != nil && sizeLimit.Sign() > 0 && (size == 0 || sizeLimit.Value() < size) {
		size = sizeLimit.Value()
	}
	return size, nil
}

// podMemoryLimit is the memory limit of the pod's cgroup, 0 when some container has none
// (the pod is then unbounded, as in the kubelet's ResourceConfigForPod).
func podMemoryLimit(pod *corev1.Pod) int64 {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			return 0
		}
	}
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	return limits.Memory().Value()
}

// nodeAllocatable is what the node offers pods: the bound of memory volumes and of
// resourceFieldRef values for containers without limits.
func (m *Manager) nodeAllocatable(ctx context.Context) (corev1.ResourceList, error) {
	node, err := m.client.CoreV1().Nodes().Get(ctx, m.nodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read node %s allocatable: %w", m.nodeName, err)
	}
	return node.Status.Allocatable, nil
}
