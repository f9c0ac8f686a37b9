package volume

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ExceedsSizeLimit reports whether an emptyDir of pod on the node's disk holds more than
// its sizeLimit, with the message the kubelet's eviction manager gives such a pod. The
// kernel bounds a Memory emptyDir (its tmpfs has the size); a disk one is bounded only by
// this check, which the agent runs periodically and answers by evicting the pod.
func (m *Manager) ExceedsSizeLimit(pod *corev1.Pod) (message string, exceeded bool, err error) {
	for _, v := range pod.Spec.Volumes {
		ed := v.EmptyDir
		if ed == nil || ed.Medium == corev1.StorageMediumMemory || ed.SizeLimit == nil || ed.SizeLimit.Sign() <= 0 {
			continue
		}
		used, err := m.Usage(pod.UID, v.Name)
		if err != nil {
			return "", false, err
		}
		if used > ed.SizeLimit.Value() {
			return fmt.Sprintf("Usage of EmptyDir volume %q exceeds the limit %q. ", v.Name, ed.SizeLimit.String()), true, nil
		}
	}
	return "", false, nil
}

// Usage is the disk space an emptyDir of a pod uses, in bytes (allocated blocks, each inode
// counted once, as du does).
func (m *Manager) Usage(podUID types.UID, volume string) (int64, error) {
	dir := m.volumeDir(podUID, emptyDirPlugin, volume)
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("usage of volume %s of pod %s: %w", volume, podUID, err)
	}
	return total, nil
}
