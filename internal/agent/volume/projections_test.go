package volume

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"golang.org/x/sys/unix"
)

func makeSocket(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return path
}

func makeBlockDevice(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "loop")
	if err := unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
		t.Fatal(err)
	}
	return path
}

// entries lists a directory's names with symlink targets ("a -> ..data/a").
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		name := e.Name()
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil {
			name += " -> " + target
		}
		out = append(out, name)
	}
	return out
}

func configMapVolume(name, cm string, items ...corev1.KeyToPath) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, DefaultMode: ptr.To[int32](0o644)}}}
}

func TestConfigMapAtomicWriterLayoutAndUpdates(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "conf"},
		Data: map[string]string{"a": "one", "b": "two"}, BinaryData: map[string][]byte{"bin": {0, 1}}}
	m, client, root := newTestManager(t, cm)
	pod := testPod(configMapVolume("cfg", "conf"))
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "cfg", MountPath: "/etc/a", SubPath: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~configmap/cfg")
	got := entries(t, dir)
	if len(got) != 5 || !strings.HasPrefix(got[0], "..20") || !strings.HasPrefix(got[1], "..data -> ..20") ||
		!slices.Equal(got[2:], []string{"a -> ..data/a", "b -> ..data/b", "bin -> ..data/bin"}) {
		t.Fatalf("volume entries %q, want a timestamped dir, ..data and one link per key", got)
	}
	tsDir := got[0]
	if readFile(t, filepath.Join(dir, "a")) != "one" || readFile(t, filepath.Join(dir, "bin")) != "\x00\x01" || mode(t, filepath.Join(dir, "a")) != 0o644 {
		t.Errorf("file a %q mode %v", readFile(t, filepath.Join(dir, "a")), mode(t, filepath.Join(dir, "a")))
	}
	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	// The whole volume is mounted through its links; the subPath is the file itself, so the
	// container keeps it when the volume is updated, as in Kubernetes.
	if mounts[0].HostPath != dir || !mounts[0].Readonly || mounts[1].HostPath != filepath.Join(dir, tsDir, "a") || !mounts[1].Readonly {
		t.Errorf("mounts %v", mounts)
	}

	// Setup again with nothing changed writes nothing.
	if err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); got[0] != tsDir {
		t.Errorf("unchanged volume rewritten: %q", got)
	}

	// An update reaches the files through Run's watch, without another Setup.
	cm = cm.DeepCopy()
	cm.Data = map[string]string{"a": "uno", "c": "tres"}
	cm.BinaryData = nil
	// The fake API's watch, unlike the real one, does not replay what happened between its
	// list and its watch: update until the watch delivers.
	poll(t, "the update written", func() bool {
		if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) == "uno" {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	})
	got = entries(t, dir)
	if len(got) != 4 || got[0] == tsDir || !strings.HasPrefix(got[0], "..20") || !slices.Equal(got[2:], []string{"a -> ..data/a", "c -> ..data/c"}) {
		t.Errorf("entries after the update %q: want a new timestamped dir, the old one and the removed keys gone", got)
	}
}

func TestConfigMapItemsModesOptional(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "conf"}, Data: map[string]string{"a": "one", "b": "two"}}
	m, _, root := newTestManager(t, cm)
	ctx := context.Background()

	t.Run("items, defaultMode and per-item mode", func(t *testing.T) {
		v := configMapVolume("cfg", "conf", corev1.KeyToPath{Key: "a", Path: "sub/first"}, corev1.KeyToPath{Key: "b", Path: "second", Mode: ptr.To[int32](0o400)})
		v.ConfigMap.DefaultMode = ptr.To[int32](0o600)
		pod := testPod(v)
		if err := m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~configmap/cfg")
		if got := entries(t, dir)[2:]; !slices.Equal(got, []string{"second -> ..data/second", "sub -> ..data/sub"}) {
			t.Errorf("entries %q", got)
		}
		if readFile(t, filepath.Join(dir, "sub/first")) != "one" || mode(t, filepath.Join(dir, "sub/first")) != 0o600 || mode(t, filepath.Join(dir, "second")) != 0o400 {
			t.Errorf("modes %v %v", mode(t, filepath.Join(dir, "sub/first")), mode(t, filepath.Join(dir, "second")))
		}
	})

	t.Run("missing config map, key and secret", func(t *testing.T) {
		pod := testPod(configMapVolume("nomap", "absent"), configMapVolume("nokey", "conf", corev1.KeyToPath{Key: "zzz", Path: "z"}),
			corev1.Volume{Name: "nosecret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "hidden"}}})
		pod.UID = "uid-2"
		msgs := failedMount(t, m.Setup(ctx, pod))
		want := []string{
			`MountVolume.SetUp failed for volume "nomap" : configmap "absent" not found`,
			`MountVolume.SetUp failed for volume "nokey" : configmap references non-existent config key: zzz`,
			`MountVolume.SetUp failed for volume "nosecret" : secret "hidden" not found`,
		}
		if !slices.Equal(msgs, want) {
			t.Errorf("messages %q\nwant %q", msgs, want)
		}
	})

	t.Run("optional", func(t *testing.T) {
		absent := configMapVolume("nomap", "absent")
		absent.ConfigMap.Optional = ptr.To(true)
		nokey := configMapVolume("nokey", "conf", corev1.KeyToPath{Key: "zzz", Path: "z"}, corev1.KeyToPath{Key: "a", Path: "a"})
		nokey.ConfigMap.Optional = ptr.To(true)
		pod := testPod(absent, nokey)
		pod.UID = "uid-3"
		if err := m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(root, "pods/uid-3/volumes/kubernetes.io~configmap")
		if got := entries(t, filepath.Join(base, "nomap")); len(got) != 2 {
			t.Errorf("optional missing config map: entries %q, want only the data dir and its link", got)
		}
		if got := entries(t, filepath.Join(base, "nokey"))[2:]; !slices.Equal(got, []string{"a -> ..data/a"}) {
			t.Errorf("optional missing key: entries %q", got)
		}
	})
}

func TestSecretIsOnTmpfs(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	m, _, root := newTestManager(t, secret)
	pod := testPod(corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr.To[int32](0o400)}}})
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~secret/creds")
	if got := mountinfo(t, dir); len(got) != 1 || !strings.Contains(got[0], " - tmpfs ") {
		t.Errorf("secret volume mounts %q, want a tmpfs", got)
	}
	if readFile(t, filepath.Join(dir, "password")) != "hunter2" || mode(t, filepath.Join(dir, "password")) != 0o400 {
		t.Errorf("secret file mode %v", mode(t, filepath.Join(dir, "password")))
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if got := mountinfo(t, dir); len(got) != 0 {
		t.Errorf("mounts left after Teardown: %q", got)
	}
}

func downwardPod() *corev1.Pod {
	items := []corev1.DownwardAPIVolumeFile{
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
		{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: ptr.To[int32](0o400)},
		{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		{Path: "mem_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu_request", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
		{Path: "cpu_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu"}},
	}
	pod := testPod(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: items, DefaultMode: ptr.To[int32](0o644)}}})
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	return pod
}

func TestDownwardAPI(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := downwardPod()
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~downward-api/info")
	want := map[string]string{
		"name": "web", "namespace": "ns", "uid": "uid-1",
		"labels":      "app=\"web\"\ntier=\"front\"",
		"annotations": "note=\"hello\"",
		"mem_limit":   "128", "cpu_request": "250",
		"cpu_limit": "2", // no limit: the node's allocatable
	}
	for name, value := range want {
		if got := readFile(t, filepath.Join(dir, name)); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	if mode(t, filepath.Join(dir, "labels")) != 0o400 || mode(t, filepath.Join(dir, "name")) != 0o644 {
		t.Errorf("modes: labels %v name %v", mode(t, filepath.Join(dir, "labels")), mode(t, filepath.Join(dir, "name")))
	}
	// A label change reaches the file with the next Setup (the agent's next sync).
	pod = pod.DeepCopy()
	pod.Labels["tier"] = "back"
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "labels")); got != "app=\"web\"\ntier=\"back\"" {
		t.Errorf("labels after the change %q", got)
	}
}

func TestProjected(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "conf"}, Data: map[string]string{"a": "one"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	m, client, root := newTestManager(t, cm, secret)
	// Gantry's API has no TokenRequest yet: it answers serviceaccounts/token with 404.
	client.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts/token"), "default")
	})
	sources := []corev1.VolumeProjection{
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
			Items: []corev1.KeyToPath{{Key: "password", Path: "secret/pw", Mode: ptr.To[int32](0o400)}}}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
	}
	pod := testPod(corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources, DefaultMode: ptr.To[int32](0o644)}}})
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~projected/all")
	if readFile(t, filepath.Join(dir, "a")) != "one" || readFile(t, filepath.Join(dir, "secret/pw")) != "hunter2" ||
		readFile(t, filepath.Join(dir, "name")) != "web" || mode(t, filepath.Join(dir, "secret/pw")) != 0o400 {
		t.Errorf("projected entries %q", entries(t, dir))
	}
	if got := mountinfo(t, dir); len(got) != 1 || !strings.Contains(got[0], " - tmpfs ") {
		t.Errorf("projected volume mounts %q, want a tmpfs", got)
	}

	token := testPod(corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}}}}}})
	token.UID = "uid-2"
	msgs := failedMount(t, m.Setup(context.Background(), token))
	if want := `MountVolume.SetUp failed for volume "token" : failed to fetch token: the API server does not have TokenRequest endpoints enabled`; len(msgs) != 1 || msgs[0] != want {
		t.Errorf("messages %q\nwant %q", msgs, want)
	}
}

func TestSubPaths(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~empty-dir/scratch")
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inner", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, subPath, expr string
		want                string // host path, or the error
		wantErr             bool
	}{
		{name: "missing directories are made", subPath: "a/b", want: filepath.Join(dir, "a/b")},
		{name: "symlinks inside are followed", subPath: "alias/x", want: filepath.Join(dir, "inner/x")},
		{name: "subPathExpr", expr: "logs/$(POD_NAME)", want: filepath.Join(dir, "logs/web")},
		{name: "backsteps", subPath: "../../etc", wantErr: true, want: "unable to provision SubPath `../../etc`: must not contain '..'"},
		{name: "absolute", subPath: "/etc", wantErr: true, want: "error SubPath `/etc` must not be an absolute path"},
		{name: "symlink out of the volume", subPath: "escape", wantErr: true, want: `failed to prepare subPath for volumeMount "scratch" of container "app"`},
		{name: "below a symlink out of the volume", subPath: "escape/new", wantErr: true, want: `failed to prepare subPath for volumeMount "scratch" of container "app"`},
		{name: "unset variable", expr: "$(NOPE)/x", wantErr: true, want: "missing value for NOPE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := pod.Spec.Containers[0].DeepCopy()
			c.VolumeMounts[0].SubPath, c.VolumeMounts[0].SubPathExpr = tc.subPath, tc.expr
			mounts, err := m.Mounts(pod, c, []*runtimeapi.KeyValue{{Key: "POD_NAME", Value: []byte("web")}})
			if tc.wantErr {
				if err == nil || err.Error() != tc.want {
					t.Errorf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mounts[0].HostPath != tc.want {
				t.Errorf("host path %s, want %s", mounts[0].HostPath, tc.want)
			}
			if info, err := os.Stat(tc.want); err != nil || !info.IsDir() {
				t.Errorf("subPath directory not made: %v", err)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was made outside the volume: %v", entries)
	}
}

func TestRunRemovesDeletedLocalPathVolumes(t *testing.T) {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-kept"}}
	m, client, root := newTestManager(t, pv)
	storage := filepath.Join(filepath.Dir(root), "storage")
	for _, name := range []string{"pvc-kept", "pvc-gone", "other"} {
		if err := os.MkdirAll(filepath.Join(storage, name), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	poll(t, "pvc-gone removed", func() bool { _, err := os.Stat(filepath.Join(storage, "pvc-gone")); return os.IsNotExist(err) })
	for _, name := range []string{"pvc-kept", "other"} {
		if _, err := os.Stat(filepath.Join(storage, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := client.CoreV1().PersistentVolumes().Delete(ctx, "pvc-kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "pvc-kept removed once its volume is deleted", func() bool {
		_, err := os.Stat(filepath.Join(storage, "pvc-kept"))
		return os.IsNotExist(err)
	})
}

// poll waits up to 10 seconds for cond.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
