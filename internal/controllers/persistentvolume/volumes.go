package persistentvolume

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// syncVolume sets one volume's phase from its claim, and reclaims it once the claim is gone.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	volume, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Free, or pre-bound by name to a claim that will bind it.
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claimOf(ctx, volume)
	if err != nil {
		return err
	}
	switch {
	case claim == nil:
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, volume)
	case claim.Spec.VolumeName == "":
		// The claim's sync binds it.
		c.claimQueue.EnqueueKey(claimKey(claim))
		return nil
	case claim.Spec.VolumeName == volume.Name:
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeBound, "")
		return err
	default:
		// The claim went to another volume.
		return c.unbind(ctx, volume)
	}
}

// claimOf is the claim volume is bound to, nil if it no longer exists. A claim missing from
// the cache is confirmed missing by a live read: a lagging cache must not release a volume.
func (c *Controller) claimOf(ctx context.Context, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := volume.Spec.ClaimRef
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	if err == nil && claim.UID == ref.UID {
		return claim, nil
	}
	if volume.Status.Phase == corev1.VolumeReleased || volume.Status.Phase == corev1.VolumeFailed {
		return nil, nil
	}
	claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read claim %s/%s of volume %s: %w", ref.Namespace, ref.Name, volume.Name, err)
	}
	if claim.UID != ref.UID {
		return nil, nil
	}
	return claim, nil
}

// unbind makes a volume available again after its claim went elsewhere.
func (c *Controller) unbind(ctx context.Context, volume *corev1.PersistentVolume) error {
	next := volume.DeepCopy()
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnBoundByController) {
		next.Spec.ClaimRef = nil
		delete(next.Annotations, storagehelpers.AnnBoundByController)
		if len(next.Annotations) == 0 {
			next.Annotations = nil
		}
	} else {
		// The user pre-bound it by name: keep the name, forget the claim's UID.
		next.Spec.ClaimRef.UID = ""
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("unbind volume %s: %w", volume.Name, err)
	}
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}

// tmpPath is what Kubernetes' hostPath deleter agrees to delete.
var tmpPath = regexp.MustCompile("/tmp/.+")

// reclaim applies a released volume's reclaim policy.
func (c *Controller) reclaim(ctx context.Context, volume *corev1.PersistentVolume) error {
	if volume.Status.Phase == corev1.VolumeFailed {
		return nil
	}
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		return c.failVolume(ctx, volume, "VolumeFailedRecycle", "No recycler plugin found for the volume!")
	case corev1.PersistentVolumeReclaimDelete:
		return c.delete(ctx, volume)
	default:
		return c.failVolume(ctx, volume, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")
	}
}

// delete deletes a released volume with the Delete policy, or says why it cannot.
func (c *Controller) delete(ctx context.Context, volume *corev1.PersistentVolume) error {
	if p := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]; (p != "" && !strings.HasPrefix(p, "kubernetes.io/")) || volume.Spec.CSI != nil {
		// Its external provisioner or CSI driver deletes it.
		return nil
	}
	hostPath := volume.Spec.HostPath
	if hostPath == nil {
		return c.failVolume(ctx, volume, "VolumeFailedDelete", fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name))
	}
	if !tmpPath.MatchString(hostPath.Path) {
		return c.failVolume(ctx, volume, "VolumeFailedDelete", fmt.Sprintf("host_path deleter only supports /tmp/.+ but received provided %s", hostPath.Path))
	}
	// The directory lives on a node; Gantry's nodes clean their own /tmp.
	uid := volume.UID
	err := c.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete released volume %s: %w", volume.Name, err)
	}
	return nil
}

func (c *Controller) failVolume(ctx context.Context, volume *corev1.PersistentVolume, reason, message string) error {
	updated, err := c.updateVolumePhase(ctx, volume, corev1.VolumeFailed, message)
	if err != nil {
		return err
	}
	c.recorder.Event(updated, corev1.EventTypeWarning, reason, message)
	return nil
}

// updateVolumePhase sets volume's phase and message.
func (c *Controller) updateVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	next := volume.DeepCopy()
	next.Status.Phase = phase
	next.Status.Message = message
	updated, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set volume %s %s: %w", volume.Name, phase, err)
	}
	return updated, nil
}
