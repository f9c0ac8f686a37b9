package stats

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// maxPods is the kubelet's default --max-pods.
const maxPods = 110

// Capacity is the node's status.capacity: every CPU, all of the memory, the size of the
// filesystem holding root (where pods' writable layers, logs and emptyDirs live), 110 pods,
// and one hugepages-<size> entry per huge page size the kernel offers (possibly zero pages).
func Capacity(root string) (corev1.ResourceList, error) {
	return capacity(root, "/proc", "/sys")
}

func capacity(root, procRoot, sysRoot string) (corev1.ResourceList, error) {
	memTotal, err := memTotalBytes(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return nil, err
	}
	fs, err := statfs(root)
	if err != nil {
		return nil, err
	}
	out := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(int64(memTotal), resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(fs.capacity), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	huge, err := hugePages(filepath.Join(sysRoot, "kernel", "mm", "hugepages"))
	if err != nil {
		return nil, err
	}
	for name, q := range huge {
		out[name] = q
	}
	return out, nil
}

// hugePages reads the kernel's hugepages-<n>kB directories: the capacity of each size is
// its page count times its page size, named as the kubelet names it (hugepages-2Mi).
func hugePages(dir string) (corev1.ResourceList, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read huge page sizes: %w", err)
	}
	out := corev1.ResourceList{}
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		if !ok {
			continue
		}
		sizeKB, err := strconv.ParseInt(kb, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("huge page size %s: %w", e.Name(), err)
		}
		pages, err := readUint(filepath.Join(dir, e.Name(), "nr_hugepages"))
		if err != nil {
			return nil, err
		}
		size := resource.NewQuantity(sizeKB*1024, resource.BinarySI)
		name := corev1.ResourceName(corev1.ResourceHugePagesPrefix + size.String())
		out[name] = *resource.NewQuantity(int64(pages)*sizeKB*1024, resource.BinarySI)
	}
	return out, nil
}

// fsUsage is one statfs of a filesystem, in bytes and inodes.
type fsUsage struct {
	capacity, available, used uint64
	inodes, inodesFree        uint64
}

func statfs(path string) (fsUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := uint64(st.Bsize)
	return fsUsage{
		capacity:   st.Blocks * bsize,
		available:  st.Bavail * bsize,
		used:       (st.Blocks - st.Bfree) * bsize,
		inodes:     st.Files,
		inodesFree: st.Ffree,
	}, nil
}
