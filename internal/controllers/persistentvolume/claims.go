package persistentvolume

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/gantryhq/gantry/internal/controller"
)

// syncClaim drives one claim towards Bound.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncBoundClaim(ctx, claim)
	}
	if err := c.syncUnboundClaim(ctx, claim); err != nil {
		return err
	}
	return controller.RequeueAfter(syncPeriod)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return c.syncPreboundClaim(ctx, claim)
	}
	delayed, err := storagehelpers.IsDelayBindingMode(claim, c.classes)
	if err != nil {
		return err
	}
	volume, err := c.bestMatch(claim, delayed)
	if err != nil {
		return fmt.Errorf("error finding PV for claim %q: %w", claimKey(claim), err)
	}
	if volume != nil {
		return c.bind(ctx, volume, claim)
	}
	switch class := storagehelpers.GetPersistentVolumeClaimClass(claim); {
	case delayed && !storagehelpers.IsDelayBindingProvisioning(claim):
		c.recorder.Event(claim, corev1.EventTypeNormal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
	case class != "":
		if claim, err = c.provisionClaim(ctx, claim, class); err != nil {
			return err
		}
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// provisionClaim says who is to provision claim: dynamic provisioning is left to external
// provisioners, which find the claim by its storage-provisioner annotations.
func (c *Controller) provisionClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim, className string) (*corev1.PersistentVolumeClaim, error) {
	class, err := c.classes.Get(className)
	if apierrors.IsNotFound(err) {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", apierrors.NewNotFound(storagev1.Resource("storageclass"), className).Error())
		return claim, nil
	}
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(class.Provisioner, "kubernetes.io/") {
		// No in-tree volume plugin provisions here.
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", fmt.Sprintf("no volume plugin matched name: %s", class.Provisioner))
		return claim, nil
	}
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != class.Provisioner {
		next := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, class.Provisioner)
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, storagehelpers.AnnStorageProvisioner, class.Provisioner)
		if claim, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			c.recorder.Event(next, corev1.EventTypeWarning, "ProvisioningFailed", fmt.Sprintf("Error saving claim: %v", err))
			return nil, fmt.Errorf("annotate claim %s with its provisioner: %w", claimKey(next), err)
		}
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, "ExternalProvisioning", fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' "+
		"or manually by the system administrator. If volume creation is delayed, please verify that "+
		"the provisioner is running and correctly registered.", class.Provisioner))
	return claim, nil
}

// syncPreboundClaim binds a claim whose user named its volume.
func (c *Controller) syncPreboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil:
		if err := volumeSatisfies(volume, claim); err != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, "VolumeMismatch", fmt.Sprintf("Cannot bind to requested volume %q: %s", volume.Name, err))
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return c.bind(ctx, volume, claim)
	default:
		c.recorder.Event(claim, corev1.EventTypeWarning, "FailedBinding", fmt.Sprintf("volume %q already bound to a different claim.", volume.Name))
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
}

func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		return c.claimLost(ctx, claim, "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
	}
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return c.claimLost(ctx, claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
	}
	if err != nil {
		return err
	}
	if volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID == claim.UID {
		// Finish a binding an interrupted sync left half done.
		return c.bind(ctx, volume, claim)
	}
	return c.claimLost(ctx, claim, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
}

func (c *Controller) claimLost(ctx context.Context, claim *corev1.PersistentVolumeClaim, reason, message string) error {
	if claim.Status.Phase == corev1.ClaimLost {
		return nil
	}
	updated, err := c.updateClaimStatus(ctx, claim, corev1.ClaimLost, nil)
	if err != nil {
		return err
	}
	c.recorder.Event(updated, corev1.EventTypeWarning, reason, message)
	return nil
}

// bind binds volume and claim to each other in four idempotent writes.
func (c *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	bound, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil {
		return err
	}
	if dirty {
		if bound, err = c.client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("bind volume %s to claim %s: %w", volume.Name, claimKey(claim), err)
		}
	}
	volume = bound
	if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeBound, ""); err != nil {
		return err
	}
	next := claim.DeepCopy()
	if next.Spec.VolumeName != volume.Name {
		next.Spec.VolumeName = volume.Name
		if !metav1.HasAnnotation(next.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&next.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
	}
	if !metav1.HasAnnotation(next.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
	}
	if !reflect.DeepEqual(next, claim) {
		if next, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("bind claim %s to volume %s: %w", claimKey(claim), volume.Name, err)
		}
	}
	_, err = c.updateClaimStatus(ctx, next, corev1.ClaimBound, volume)
	return err
}

// updateClaimStatus sets claim's phase and, from volume, its capacity and access modes.
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	next := claim.DeepCopy()
	next.Status.Phase = phase
	if volume == nil {
		next.Status.AccessModes = nil
		next.Status.Capacity = nil
	} else {
		next.Status.AccessModes = volume.Spec.AccessModes
		if claim.Status.Phase != phase {
			next.Status.Capacity = volume.Spec.Capacity
		}
	}
	if reflect.DeepEqual(next.Status, claim.Status) {
		return claim, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set claim %s %s: %w", claimKey(claim), phase, err)
	}
	return updated, nil
}

// volumeSatisfies says why volume cannot serve claim, which named it.
func volumeSatisfies(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case volume.DeletionTimestamp != nil:
		return fmt.Errorf("the volume is marked for deletion %q", volume.Name)
	case capacity.Value() < requested.Value():
		return fmt.Errorf("requested PV is too small")
	case storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim):
		return fmt.Errorf("storageClassName does not match")
	case storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec):
		return fmt.Errorf("incompatible volumeMode")
	case !storagehelpers.CheckAccessModes(claim, volume):
		return fmt.Errorf("incompatible accessMode")
	}
	return nil
}

func claimKey(claim *corev1.PersistentVolumeClaim) string {
	return claim.Namespace + "/" + claim.Name
}
