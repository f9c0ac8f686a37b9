package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

const testNode = "node-a"

// newTestManager returns a manager over a temp root and a fake API holding objs and the node.
func newTestManager(t *testing.T, objs ...runtime.Object) (*Manager, *fake.Clientset, string) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourceCPU: resource.MustParse("2")}}}
	client := fake.NewClientset(append(objs, node)...)
	data := t.TempDir()
	root := filepath.Join(data, "agent")
	m := NewManager(root, client, testNode, Options{})
	t.Cleanup(func() {
		// Never leave a tmpfs behind, whatever the test did.
		if err := unmountUnder(root); err != nil {
			t.Error(err)
		}
	})
	return m, client, root
}

// testPod is a pod with one container mounting every volume at /v/<name>.
func testPod(volumes ...corev1.Volume) *corev1.Pod {
	c := corev1.Container{Name: "app"}
	for _, v := range volumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: "/v/" + v.Name})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID("uid-1"),
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"note": "hello"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: volumes, ServiceAccountName: "default"},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func failedMount(t *testing.T, err error) []string {
	t.Helper()
	var fm *FailedMount
	if !errors.As(err, &fm) {
		t.Fatalf("Setup error %v, want a *FailedMount", err)
	}
	return fm.Messages
}

func TestEmptyDirOnDisk(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Mi"))}}})
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~empty-dir/scratch")
	if got := mode(t, dir); got != 0o777 {
		t.Errorf("emptyDir mode %v, want 0777", got)
	}
	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].HostPath != dir || mounts[0].ContainerPath != "/v/scratch" || mounts[0].Readonly {
		t.Errorf("mounts %v", mounts)
	}

	if msg, exceeded, err := m.ExceedsSizeLimit(pod); err != nil || exceeded {
		t.Fatalf("empty volume exceeds its limit: %q %v", msg, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, exceeded, err := m.ExceedsSizeLimit(pod)
	if err != nil || !exceeded || msg != `Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ` {
		t.Errorf("2Mi in a 1Mi emptyDir: exceeded %v message %q err %v", exceeded, msg, err)
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "pods/uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod directory left after Teardown: %v", err)
	}
}

func TestEmptyDirMemoryIsTmpfs(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := testPod(
		corev1.Volume{Name: "small", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
		corev1.Volume{Name: "node", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	)
	for range 2 { // idempotent: one tmpfs, not two stacked
		if err := m.Setup(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	for name, size := range map[string]string{"small": "size=65536k", "node": "size=1048576k"} {
		dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~empty-dir", name)
		entries := mountinfo(t, dir)
		if len(entries) != 1 || !strings.Contains(entries[0], " - tmpfs ") || !strings.Contains(entries[0], size) {
			t.Errorf("mountinfo for %s: %q, want one tmpfs with %s", name, entries, size)
		}
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if entries := mountinfo(t, root); len(entries) != 0 {
		t.Errorf("mounts left after Teardown: %q", entries)
	}
	if _, err := os.Stat(filepath.Join(root, "pods/uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod directory left after Teardown: %v", err)
	}
}

// mountinfo returns the lines of /proc/self/mountinfo whose mount point is at or below dir.
func mountinfo(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, line)
		}
	}
	return out
}

func TestUnusedVolumesAreNotSetUp(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}}}}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatalf("a volume no container mounts failed Setup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "pods/uid-1/volumes")); !os.IsNotExist(err) {
		t.Errorf("unused volume set up: %v", err)
	}
}

func TestPersistentVolumeClaims(t *testing.T) {
	storage := t.TempDir()
	local := filepath.Join(storage, "pvc-1234")
	claim := func(name, volume string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("claim-" + name)},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1234", Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "gantry.dev/local-path"}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: local}},
			ClaimRef:               &corev1.ObjectReference{Namespace: "ns", Name: "data", UID: "claim-data"},
		}}
	m, _, _ := newTestManager(t, claim("data", "pvc-1234", corev1.ClaimBound), claim("later", "", corev1.ClaimPending), pv)
	claimVolume := func(name, claimName string, readOnly bool) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName, ReadOnly: readOnly}}}
	}

	t.Run("a bound local-path volume gets its directory", func(t *testing.T) {
		pod := testPod(claimVolume("data", "data", false), claimVolume("ro", "data", true))
		if err := m.Setup(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		if got := mode(t, local); got != 0o777 {
			t.Errorf("local-path directory mode %v, want 0777", got)
		}
		mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(mounts) != 2 || mounts[0].HostPath != local || mounts[0].Readonly || mounts[1].HostPath != local || !mounts[1].Readonly {
			t.Errorf("mounts %v, want %s read-write then read-only", mounts, local)
		}
	})

	t.Run("an unbound claim fails with the kubelet's message", func(t *testing.T) {
		pod := testPod(claimVolume("data", "later", false), claimVolume("gone", "nope", false))
		pod.UID = "uid-2"
		msgs := failedMount(t, m.Setup(context.Background(), pod))
		want := `Unable to attach or mount volumes: unmounted volumes=[data gone], unattached volumes=[], failed to process volumes=[data gone]: ` +
			`error processing PVC ns/later: PVC is not bound; error processing PVC ns/nope: failed to fetch PVC from API server: persistentvolumeclaims "nope" not found`
		if len(msgs) != 1 || msgs[0] != want {
			t.Errorf("messages %q\nwant %q", msgs, want)
		}
	})
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := makeSocket(t, dir)
	block := makeBlockDevice(t, dir)
	cases := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{dir, corev1.HostPathUnset, ""},
		{filepath.Join(dir, "nothing"), corev1.HostPathUnset, ""},
		{filepath.Join(dir, "made/dir"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathDirectoryOrCreate, "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{filepath.Join(dir, "absent"), corev1.HostPathDirectory,
			"hostPath type check failed, " + dir + "/absent is not a directory, unable to determine its type: path \"" + dir + "/absent\" does not exist"},
		{filepath.Join(dir, "made-file"), corev1.HostPathFileOrCreate, ""},
		{dir, corev1.HostPathFileOrCreate, "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "hostPath type check failed: " + file + " is not a socket file, it's a File"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{block, corev1.HostPathCharDev, "hostPath type check failed: " + block + " is not a character device, it's a BlockDevice"},
		{block, corev1.HostPathBlockDev, ""},
		{"/dev/null", corev1.HostPathBlockDev, "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"},
		{dir, "Weird", "Weird is an invalid volume type"},
		{dir + "/../x", corev1.HostPathUnset, "invalid HostPath `" + dir + "/../x`: must not contain '..'"},
	}
	m, _, _ := newTestManager(t)
	for _, tc := range cases {
		t.Run(string(tc.typ)+" "+filepath.Base(tc.path), func(t *testing.T) {
			pod := testPod(corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: ptr.To(tc.typ)}}})
			err := m.Setup(context.Background(), pod)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], nil)
				if err != nil || len(mounts) != 1 || mounts[0].HostPath != tc.path {
					t.Errorf("mounts %v err %v, want the host path itself", mounts, err)
				}
				return
			}
			msgs := failedMount(t, err)
			if want := `MountVolume.SetUp failed for volume "host" : ` + tc.wantErr; len(msgs) != 1 || msgs[0] != want {
				t.Errorf("messages %q\nwant %q", msgs, want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "made/dir")); err != nil {
		t.Errorf("DirectoryOrCreate did not create: %v", err)
	}
	if info, err := os.Stat(filepath.Join(dir, "made-file")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("FileOrCreate did not create a file: %v", err)
	}
}
