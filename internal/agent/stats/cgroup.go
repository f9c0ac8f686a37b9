package stats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// cgroupUsage is one reading of the root cgroup: cumulative CPU time and current memory.
type cgroupUsage struct {
	cpuNanos        uint64 // CPU time used by every task since boot
	memUsage        uint64 // memory charged, page cache included
	inactiveFile    uint64 // page cache the kernel reclaims first; not part of the working set
	rss             uint64 // anonymous memory
	pageFaults      uint64
	majorPageFaults uint64
}

// workingSet is what the kubelet (and so kubectl top) calls memory in use: usage less the
// inactive file cache, never below zero.
func (u cgroupUsage) workingSet() uint64 {
	if u.inactiveFile > u.memUsage {
		return 0
	}
	return u.memUsage - u.inactiveFile
}

// readRootCgroup reads the root cgroup under root (normally /sys/fs/cgroup), in the unified
// (v2) layout when root has cgroup.controllers and in the per-controller (v1) layout
// otherwise. meminfo is /proc/meminfo, the v2 fallback for kernels whose root cgroup has no
// memory.current.
func readRootCgroup(root, meminfo string) (cgroupUsage, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return readCgroupV2(root, meminfo)
	}
	return readCgroupV1(root)
}

func readCgroupV1(root string) (cgroupUsage, error) {
	var u cgroupUsage
	cpuacct, err := v1Controller(root, "cpuacct", "cpu,cpuacct", "cpuacct,cpu")
	if err != nil {
		return u, err
	}
	if u.cpuNanos, err = readUint(filepath.Join(cpuacct, "cpuacct.usage")); err != nil {
		return u, err
	}
	mem := filepath.Join(root, "memory")
	if u.memUsage, err = readUint(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return u, err
	}
	stat, err := readKeyValues(filepath.Join(mem, "memory.stat"))
	if err != nil {
		return u, err
	}
	// The root's own figures leave out its children; the total_ ones are the hierarchy's.
	u.inactiveFile = stat["total_inactive_file"]
	u.rss = stat["total_rss"]
	u.pageFaults = stat["total_pgfault"]
	u.majorPageFaults = stat["total_pgmajfault"]
	return u, nil
}

// v1Controller finds a v1 controller's mount, which distributions name differently.
func v1Controller(root string, names ...string) (string, error) {
	for _, n := range names {
		dir := filepath.Join(root, n)
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no cgroup v1 controller %v under %s", names, root)
}

func readCgroupV2(root, meminfo string) (cgroupUsage, error) {
	var u cgroupUsage
	cpu, err := readKeyValues(filepath.Join(root, "cpu.stat"))
	if err != nil {
		return u, err
	}
	usec, ok := cpu["usage_usec"]
	if !ok {
		return u, fmt.Errorf("no usage_usec in %s", filepath.Join(root, "cpu.stat"))
	}
	u.cpuNanos = usec * 1000
	stat, err := readKeyValues(filepath.Join(root, "memory.stat"))
	if err != nil {
		return u, err
	}
	u.inactiveFile = stat["inactive_file"]
	u.rss = stat["anon"]
	u.pageFaults = stat["pgfault"]
	u.majorPageFaults = stat["pgmajfault"]
	u.memUsage, err = readUint(filepath.Join(root, "memory.current"))
	if errors.Is(err, os.ErrNotExist) {
		// The root cgroup has no memory.current on most kernels: what it would say is all
		// memory not free, as runc computes it.
		kv, merr := readKeyValues(meminfo)
		if merr != nil {
			return u, merr
		}
		u.memUsage = kv["MemTotal"] - kv["MemFree"]
		return u, nil
	}
	return u, err
}
