package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Directory names of the volume plugins under pods/<uid>/volumes, the kubelet's.
const (
	emptyDirPlugin    = "kubernetes.io~empty-dir"
	configMapPlugin   = "kubernetes.io~configmap"
	secretPlugin      = "kubernetes.io~secret"
	downwardAPIPlugin = "kubernetes.io~downward-api"
	projectedPlugin   = "kubernetes.io~projected"
)

// Options tune a Manager; the zero value gives the defaults.
type Options struct {
	// StorageDir holds the local-path volumes (DATA/storage: "storage" beside the agent root
	// by default). Run removes the directories in it whose PersistentVolume is gone.
	StorageDir string
	// Logger defaults to slog.Default.
	Logger *slog.Logger
}

// Manager prepares the volumes of the pods on one node, as the kubelet's volume manager and
// volume plugins do, and keeps the projected files current.
type Manager struct {
	root       string
	storageDir string
	client     kubernetes.Interface
	nodeName   string
	log        *slog.Logger

	// writeMu serialises writes to volume directories: Setup, Teardown and Run's refreshes.
	writeMu sync.Mutex
	// mu guards pods and watches.
	mu      sync.Mutex
	pods    map[types.UID]*podState
	watches *watches
}

// podState is what Setup learnt about a pod: its latest spec and where each volume is.
type podState struct {
	pod    *corev1.Pod
	paths  map[string]hostVolume
	tokens map[string]token
}

// hostVolume is a set-up volume on the host.
type hostVolume struct {
	path string
	// readOnly volumes are mounted read-only whatever the volumeMount says (the kubelet's
	// "mustMountRO": configMap, secret, downwardAPI, projected, read-only claims).
	readOnly bool
}

// NewManager returns a manager that keeps volumes under root (DATA/agent) and reads the API
// through client as node nodeName.
func NewManager(root string, client kubernetes.Interface, nodeName string, opts Options) *Manager {
	if opts.StorageDir == "" {
		opts.StorageDir = filepath.Join(filepath.Dir(filepath.Clean(root)), "storage")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{
		root:       root,
		storageDir: opts.StorageDir,
		client:     client,
		nodeName:   nodeName,
		log:        opts.Logger.With("component", "volumes"),
		pods:       map[types.UID]*podState{},
	}
}

// FailedMount is Setup's error. Each message is one FailedMount event the kubelet would
// record on the pod ("MountVolume.SetUp failed for volume ..." per volume that failed, and
// "Unable to attach or mount volumes: ..." when a claim could not be resolved).
type FailedMount struct{ Messages []string }

func (e *FailedMount) Error() string { return strings.Join(e.Messages, "; ") }

// processError is a volume that could not be resolved to a source (an unbound claim): the
// kubelet reports those together, not per volume.
type processError struct{ err error }

func (e *processError) Error() string { return e.err.Error() }
func (e *processError) Unwrap() error { return e.err }

// Setup prepares every volume a container of pod mounts. It is idempotent and cheap when
// nothing changed, so the agent calls it before the sandbox starts and on every sync (a
// changed label reaches downwardAPI files that way). Volumes that fail are retried by the
// next call; the error is a *FailedMount.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	st := m.pods[pod.UID]
	if st == nil {
		st = &podState{paths: map[string]hostVolume{}, tokens: map[string]token{}}
		m.pods[pod.UID] = st
	}
	st.pod = pod
	m.mu.Unlock()

	used := usedVolumes(pod)
	var messages, unmounted, unprocessed, processErrs []string
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !used[v.Name] {
			// As the kubelet: a volume no container uses is not set up.
			continue
		}
		hv, err := m.setupVolume(ctx, pod, v, st)
		if err == nil {
			m.mu.Lock()
			st.paths[v.Name] = hv
			m.mu.Unlock()
			continue
		}
		unmounted = append(unmounted, v.Name)
		if pe := (*processError)(nil); errors.As(err, &pe) {
			unprocessed = append(unprocessed, v.Name)
			processErrs = append(processErrs, pe.Error())
			continue
		}
		messages = append(messages, fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", v.Name, err))
	}
	m.syncWatches()
	if len(unprocessed) > 0 {
		slices.Sort(unmounted)
		messages = append(messages, fmt.Sprintf("Unable to attach or mount volumes: unmounted volumes=%v, unattached volumes=%v, failed to process volumes=%v: %s",
			unmounted, []string{}, unprocessed, strings.Join(processErrs, "; ")))
	}
	if len(messages) > 0 {
		return &FailedMount{Messages: messages}
	}
	return nil
}

// setupVolume prepares one volume and says where it is on the host.
func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, st *podState) (hostVolume, error) {
	switch src := &v.VolumeSource; {
	case src.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, emptyDirPlugin, v.Name)
		return hostVolume{path: dir}, m.setupEmptyDir(ctx, pod, dir, src.EmptyDir)
	case src.HostPath != nil:
		return hostVolume{path: src.HostPath.Path}, checkHostPath(src.HostPath.Path, src.HostPath.Type)
	case src.ConfigMap != nil:
		dir := m.volumeDir(pod.UID, configMapPlugin, v.Name)
		return hostVolume{path: dir, readOnly: true}, m.setupConfigMap(ctx, pod, dir, src.ConfigMap)
	case src.Secret != nil:
		dir := m.volumeDir(pod.UID, secretPlugin, v.Name)
		return hostVolume{path: dir, readOnly: true}, m.setupSecret(ctx, pod, dir, src.Secret)
	case src.DownwardAPI != nil:
		dir := m.volumeDir(pod.UID, downwardAPIPlugin, v.Name)
		return hostVolume{path: dir, readOnly: true}, m.setupDownwardAPI(ctx, pod, dir, src.DownwardAPI)
	case src.Projected != nil:
		dir := m.volumeDir(pod.UID, projectedPlugin, v.Name)
		return hostVolume{path: dir, readOnly: true}, m.setupProjected(ctx, pod, v.Name, dir, src.Projected, st)
	case src.PersistentVolumeClaim != nil:
		return m.setupClaim(ctx, pod, src.PersistentVolumeClaim.ClaimName, src.PersistentVolumeClaim.ReadOnly)
	case src.Ephemeral != nil:
		// A generic ephemeral volume is the claim <pod>-<volume>, made by its controller.
		return m.setupClaim(ctx, pod, pod.Name+"-"+v.Name, false)
	default:
		return hostVolume{}, &processError{fmt.Errorf("failed to get Plugin from volumeSpec for volume %q err=no volume plugin matched", v.Name)}
	}
}

// Teardown removes the volumes of a pod whose containers are gone: it unmounts what Setup
// mounted (tmpfs) and removes pods/<uid>/volumes, and the pod directory if nothing else is
// left in it. It works from the disk alone, so it also cleans up after an agent restart.
func (m *Manager) Teardown(podUID types.UID) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	delete(m.pods, podUID)
	m.mu.Unlock()
	m.syncWatches()

	podDir := filepath.Join(m.root, "pods", string(podUID))
	volumes := filepath.Join(podDir, "volumes")
	if err := unmountUnder(volumes); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(volumes); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", podUID, err)
	}
	if err := os.Remove(podDir); err != nil && !os.IsNotExist(err) && !isNotEmpty(err) {
		return fmt.Errorf("remove pod directory %s: %w", podDir, err)
	}
	return nil
}

// volumeDir is where a volume of a pod lives: pods/<uid>/volumes/<plugin>/<name>.
func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.root, "pods", string(uid), "volumes", plugin, name)
}

// usedVolumes names the volumes some container of pod mounts.
func usedVolumes(pod *corev1.Pod) map[string]bool {
	used := map[string]bool{}
	add := func(mounts []corev1.VolumeMount, devices []corev1.VolumeDevice) {
		for _, vm := range mounts {
			used[vm.Name] = true
		}
		for _, d := range devices {
			used[d.Name] = true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		add(c.VolumeMounts, c.VolumeDevices)
	}
	for _, c := range pod.Spec.Containers {
		add(c.VolumeMounts, c.VolumeDevices)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		add(c.VolumeMounts, c.VolumeDevices)
	}
	return used
}

// state returns a copy of what Setup recorded about a pod, nil if nothing.
func (m *Manager) state(uid types.UID) (*corev1.Pod, map[string]hostVolume) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.pods[uid]
	if st == nil {
		return nil, nil
	}
	paths := make(map[string]hostVolume, len(st.paths))
	for k, v := range st.paths {
		paths[k] = v
	}
	return st.pod, paths
}
