package stats

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestCapacityOfThisMachine(t *testing.T) {
	root := t.TempDir()
	got, err := Capacity(root)
	if err != nil {
		t.Fatal(err)
	}
	memTotal, err := memTotalBytes("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := statfs(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[corev1.ResourceName]int64{
		corev1.ResourceCPU:              int64(runtime.NumCPU()),
		corev1.ResourceMemory:           int64(memTotal),
		corev1.ResourcePods:             110,
		corev1.ResourceEphemeralStorage: int64(fs.capacity),
	}
	for name, v := range want {
		q, ok := got[name]
		if !ok || q.Value() != v {
			t.Errorf("capacity %s = %v, want %d", name, q.String(), v)
		}
	}
	if memTotal == 0 || fs.capacity == 0 {
		t.Errorf("MemTotal %d, filesystem capacity %d: want both > 0", memTotal, fs.capacity)
	}
}

func TestCapacityHugePages(t *testing.T) {
	sys := t.TempDir()
	for dir, pages := range map[string]string{"hugepages-2048kB": "3\n", "hugepages-1048576kB": "0\n"} {
		d := filepath.Join(sys, "kernel", "mm", "hugepages", dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "nr_hugepages"), []byte(pages), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := capacity(t.TempDir(), "/proc", sys)
	if err != nil {
		t.Fatal(err)
	}
	if q := got["hugepages-2Mi"]; !q.Equal(resource.MustParse("6Mi")) {
		t.Errorf("hugepages-2Mi = %s, want 6Mi", q.String())
	}
	if q, ok := got["hugepages-1Gi"]; !ok || !q.IsZero() {
		t.Errorf("hugepages-1Gi = %s (present %v), want 0", q.String(), ok)
	}
}
