package stats

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadCgroupV2(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cgroup.controllers": "cpuset cpu io memory pids\n",
		"cpu.stat":           "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
		"memory.current":     "1000000\n",
		"memory.stat":        "anon 300000\nfile 600000\nactive_file 200000\ninactive_file 400000\npgfault 77\npgmajfault 5\n",
	})
	got, err := readRootCgroup(root, filepath.Join(root, "no-meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	want := cgroupUsage{cpuNanos: 2_500_000_000, memUsage: 1_000_000, inactiveFile: 400_000, rss: 300_000, pageFaults: 77, majorPageFaults: 5}
	if got != want {
		t.Errorf("v2 reading = %+v, want %+v", got, want)
	}
	if ws := got.workingSet(); ws != 600_000 {
		t.Errorf("working set = %d, want 600000", ws)
	}
}

// A v2 root cgroup without memory.current is read from /proc/meminfo as runc does.
func TestReadCgroupV2RootWithoutMemoryCurrent(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cgroup.controllers": "cpu memory\n",
		"cpu.stat":           "usage_usec 7\n",
		"memory.stat":        "anon 10\ninactive_file 1024\n",
		"meminfo":            "MemTotal:       8000 kB\nMemFree:        3000 kB\nMemAvailable:   5000 kB\n",
	})
	got, err := readRootCgroup(root, filepath.Join(root, "meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	if got.memUsage != 5000*1024 || got.cpuNanos != 7000 {
		t.Errorf("memory usage %d, cpu %d: want %d, 7000", got.memUsage, got.cpuNanos, 5000*1024)
	}
	if ws := got.workingSet(); ws != 5000*1024-1024 {
		t.Errorf("working set = %d, want %d", ws, 5000*1024-1024)
	}
}

func TestReadCgroupV1(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cpu,cpuacct/cpuacct.usage":    "123456789\n",
		"memory/memory.usage_in_bytes": "5000\n",
		// The root's own entries must not be taken for the hierarchy's total_ ones.
		"memory/memory.stat": "rss 1\ninactive_file 2\npgfault 3\npgmajfault 4\n" +
			"total_rss 1500\ntotal_inactive_file 6000\ntotal_pgfault 30\ntotal_pgmajfault 4\n",
	})
	got, err := readRootCgroup(root, "")
	if err != nil {
		t.Fatal(err)
	}
	want := cgroupUsage{cpuNanos: 123456789, memUsage: 5000, inactiveFile: 6000, rss: 1500, pageFaults: 30, majorPageFaults: 4}
	if got != want {
		t.Errorf("v1 reading = %+v, want %+v", got, want)
	}
	if ws := got.workingSet(); ws != 0 {
		t.Errorf("working set with more inactive file than usage = %d, want 0", ws)
	}
}
