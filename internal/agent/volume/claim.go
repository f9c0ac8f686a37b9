package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provisioner is the name of Gantry's local-path provisioner. A local volume it provisioned
// gets its directory from the node that first mounts it: the controller that created the
// PersistentVolume runs on a server, which need not be that node.
const Provisioner = "gantry.dev/local-path"

// annProvisionedBy marks a dynamically provisioned PersistentVolume with its provisioner.
const annProvisionedBy = "pv.kubernetes.io/provisioned-by"

// pvcProtectionFinalizer keeps a claim in use from going away (kubernetes.io/pvc-protection).
const pvcProtectionFinalizer = "kubernetes.io/pvc-protection"

// setupClaim resolves a claim to its bound PersistentVolume, as the kubelet's desired state
// populator does (and with its messages), and prepares the volume's path.
func (m *Manager) setupClaim(ctx context.Context, pod *corev1.Pod, claimName string, readOnly bool) (hostVolume, error) {
	pv, err := m.boundVolume(ctx, pod.Namespace, claimName)
	if err != nil {
		return hostVolume{}, &processError{fmt.Errorf("error processing PVC %s/%s: %v", pod.Namespace, claimName, err)}
	}
	if mode := pv.Spec.VolumeMode; mode != nil && *mode != corev1.PersistentVolumeFilesystem {
		return hostVolume{}, &processError{fmt.Errorf("volume %s has volumeMode %s, but is specified in volumeMounts", pv.Name, *mode)}
	}
	switch src := pv.Spec.PersistentVolumeSource; {
	case src.HostPath != nil:
		return hostVolume{path: src.HostPath.Path, readOnly: readOnly}, checkHostPath(src.HostPath.Path, src.HostPath.Type)
	case src.Local != nil:
		return hostVolume{path: src.Local.Path, readOnly: readOnly}, m.checkLocal(pv)
	default:
		return hostVolume{}, &processError{fmt.Errorf("failed to get Plugin from volumeSpec for volume %q err=no volume plugin matched", pv.Name)}
	}
}

// checkLocal makes sure a local volume's directory exists, creating it for volumes of the
// local-path provisioner (world-writable, as its upstream namesake makes them).
func (m *Manager) checkLocal(pv *corev1.PersistentVolume) error {
	path := pv.Spec.Local.Path
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if pv.Annotations[annProvisionedBy] != Provisioner {
		return fmt.Errorf("path %q does not exist", path)
	}
	if err := os.MkdirAll(path, 0o777); err != nil {
		return fmt.Errorf("create local-path volume %s: %w", pv.Name, err)
	}
	return os.Chmod(path, 0o777)
}

// boundVolume returns the volume a claim is bound to, or why there is none.
func (m *Manager) boundVolume(ctx context.Context, ns, claimName string) (*corev1.PersistentVolume, error) {
	pvc, err := m.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch PVC from API server: %v", err)
	}
	switch {
	case pvc.DeletionTimestamp != nil && !slices.Contains(pvc.Finalizers, pvcProtectionFinalizer):
		return nil, errors.New("PVC is being deleted")
	case pvc.Status.Phase != corev1.ClaimBound:
		return nil, errors.New("PVC is not bound")
	case pvc.Spec.VolumeName == "":
		return nil, errors.New("PVC has empty pvc.Spec.VolumeName")
	}
	pv, err := m.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch PV %s from API server: %v", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		return nil, fmt.Errorf("found PV object %s but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim", pv.Name)
	case pv.Spec.ClaimRef.UID != pvc.UID:
		return nil, fmt.Errorf("found PV object %s but its pv.Spec.ClaimRef.UID %s does not point to claim.UID %s", pv.Name, pv.Spec.ClaimRef.UID, pvc.UID)
	}
	return pv, nil
}
