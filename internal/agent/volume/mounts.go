package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// Mounts returns the CRI mounts of one container of a pod Setup prepared: one per
// volumeMount, with readOnly, subPath or subPathExpr (expanded with env, the container's
// environment as it is passed to CRI) and mountPropagation. A subPath is resolved when the
// container is created, so a subPath of a configMap or secret keeps the file it found (as
// in Kubernetes, updates do not reach it); the agent calls Mounts again for every restart.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, env []*runtimeapi.KeyValue) ([]*runtimeapi.Mount, error) {
	_, paths := m.state(pod.UID)
	var mounts []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		hv, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if subPath, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		hostPath := hv.path
		if subPath != "" {
			if filepath.IsAbs(subPath) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
			}
			if slices.Contains(strings.Split(subPath, "/"), "..") {
				return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", subPath)
			}
			var err error
			if hostPath, err = resolveSubPath(hv.path, subPath); err != nil {
				// As the kubelet, the details (host paths) stay in the agent's log.
				m.log.Error("prepare subPath", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "volumeMount", vm.Name, "err", err)
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)
			}
		}
		propagation, err := propagation(vm.MountPropagation)
		if err != nil {
			return nil, err
		}
		readOnly := vm.ReadOnly || hv.readOnly
		if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled {
			// containerd 1.6 cannot make a bind mount read-only recursively.
			return nil, fmt.Errorf("failed to resolve recursive read-only mode: volume %q requested recursive read-only mode, but it is not supported by the runtime", vm.Name)
		}
		mounts = append(mounts, &runtimeapi.Mount{
			ContainerPath: vm.MountPath,
			HostPath:      hostPath,
			Readonly:      readOnly,
			Propagation:   propagation,
		})
	}
	return mounts, nil
}

// expandSubPath expands $(VAR) in a subPathExpr; every variable must have a value.
func expandSubPath(expr string, env []*runtimeapi.KeyValue) (string, error) {
	values := map[string]string{}
	for _, kv := range env {
		values[kv.Key] = string(kv.Value)
	}
	var missing []string
	out := expansion.Expand(expr, func(key string) string {
		v, ok := values[key]
		if !ok || v == "" {
			missing = append(missing, key)
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("missing value for %s", strings.Join(slices.Compact(missing), ", "))
	}
	return out, nil
}

// resolveSubPath returns the real path of volume/sub, creating the directory if it does not
// exist, and refuses one whose symlinks lead out of the volume.
func resolveSubPath(volume, sub string) (string, error) {
	root, err := filepath.EvalSymlinks(volume)
	if err != nil {
		return "", err
	}
	full := filepath.Join(volume, sub)
	if _, err := os.Lstat(full); errors.Is(err, fs.ErrNotExist) {
		// Create the missing part below the deepest existing ancestor, which must be inside.
		existing := filepath.Dir(full)
		for {
			if _, err := os.Lstat(existing); err == nil {
				break
			}
			existing = filepath.Dir(existing)
		}
		real, err := filepath.EvalSymlinks(existing)
		if err != nil {
			return "", err
		}
		if !within(root, real) {
			return "", fmt.Errorf("subpath %q leads out of volume %s", sub, volume)
		}
		rest, err := filepath.Rel(existing, full)
		if err != nil {
			return "", err
		}
		info, err := os.Stat(root)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(real, rest), info.Mode().Perm()); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", err
	}
	if !within(root, real) {
		return "", fmt.Errorf("subpath %q leads out of volume %s", sub, volume)
	}
	return real, nil
}

func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func propagation(mode *corev1.MountPropagationMode) (runtimeapi.MountPropagation, error) {
	if mode == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	}
	switch *mode {
	case corev1.MountPropagationNone:
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	case corev1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, nil
	case corev1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, nil
	}
	return 0, fmt.Errorf("invalid MountPropagation mode: %q", *mode)
}
