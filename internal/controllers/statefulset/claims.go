package statefulset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// retention returns set's claim retention policy; unset means Retain for both.
func retention(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if set.Spec.PersistentVolumeClaimRetentionPolicy != nil {
		p = *set.Spec.PersistentVolumeClaimRetentionPolicy
	}
	return p
}

// createClaims creates the claims pod needs that do not exist yet.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		existing, err := c.claims.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{})
			// AlreadyExists: the informer has not shown it yet; it is there.
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				c.record.Eventf(set, claim, corev1.EventTypeWarning, "FailedCreate", "Create", "Create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, pod.Name, set.Name, err)
				errs = append(errs, fmt.Errorf("create claim %s for pod %s: %w", claim.Name, pod.Name, err))
				continue
			}
			c.record.Eventf(set, claim, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod.Name, set.Name)
		case err != nil:
			errs = append(errs, fmt.Errorf("get claim %s: %w", claim.Name, err))
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("claim %s for pod %s is being deleted", claim.Name, pod.Name))
		}
	}
	return errors.Join(errs...)
}

// refersTo reports whether ref names obj of kind gvk, whatever its UID.
func refersTo(ref metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

// staleRef reports whether claim refers to an earlier object of obj's name and kind.
func staleRef(claim *corev1.PersistentVolumeClaim, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	for _, r := range claim.OwnerReferences {
		if refersTo(r, obj, gvk) {
			return r.UID != obj.GetUID()
		}
	}
	return false
}

// claimIsStale reports whether a claim of pod, about to be created, still belongs to an
// earlier pod of the same name that scale-down deleted: the garbage collector is about to
// remove it, so the new pod must wait rather than mount it.
func (c *Controller) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if retention(set).WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		return false, nil
	}
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if staleRef(claim, pod, podKind) {
			return true, nil
		}
	}
	return false, nil
}

// wantedOwners returns whether, by set's retention policy, pod's claims should be controlled by
// the set and by the pod: whenDeleted=Delete ties a claim to the set while its pod is wanted,
// whenScaled=Delete ties it to a pod that is scaled away.
func wantedOwners(set *appsv1.StatefulSet, pod *corev1.Pod) (bySet, byPod bool) {
	p := retention(set)
	del := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	scaledDown := !inRange(set, pod)
	bySet = p.WhenDeleted == del && (p.WhenScaled != del || !scaledDown)
	byPod = p.WhenScaled == del && scaledDown
	return bySet, byPod
}

// foreignController reports whether something other than set or pod controls claim.
func foreignController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for _, r := range claim.OwnerReferences {
		if refersTo(r, set, setKind) || refersTo(r, pod, podKind) {
			continue
		}
		if r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// ownersUpToDate reports whether claim's references to set and pod are what the retention
// policy asks for. Claims with stale references (to an earlier set or pod of the same name)
// are left alone; the garbage collector deals with them.
func ownersUpToDate(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if staleRef(claim, set, setKind) || staleRef(claim, pod, podKind) {
		return true
	}
	hasSet, hasPod, nonController := false, false, false
	for _, r := range claim.OwnerReferences {
		ours := r.UID == set.UID || (pod.UID != "" && r.UID == pod.UID)
		if ours && (r.Controller == nil || !*r.Controller) {
			nonController = true
		}
		hasSet = hasSet || r.UID == set.UID
		hasPod = hasPod || (pod.UID != "" && r.UID == pod.UID)
	}
	p := retention(set)
	retainAll := p.WhenDeleted == appsv1.RetainPersistentVolumeClaimRetentionPolicyType &&
		p.WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if !retainAll && foreignController(claim, set, pod) {
		// Another controller manages the claim: we only take our references away.
		return !hasSet && !hasPod
	}
	if nonController {
		return false
	}
	bySet, byPod := wantedOwners(set, pod)
	return hasSet == bySet && hasPod == byPod
}

// setOwners rewrites claim's references to set and pod as the retention policy asks.
func setOwners(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) {
	p := retention(set)
	retainAll := p.WhenDeleted == appsv1.RetainPersistentVolumeClaimRetentionPolicyType &&
		p.WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	foreign := !retainAll && foreignController(claim, set, pod)
	var refs []metav1.OwnerReference
	for _, r := range claim.OwnerReferences {
		if !refersTo(r, set, setKind) && !refersTo(r, pod, podKind) {
			refs = append(refs, r)
		}
	}
	if !foreign {
		bySet, byPod := wantedOwners(set, pod)
		if bySet {
			refs = append(refs, *metav1.NewControllerRef(set, setKind))
		}
		if byPod && pod.UID != "" {
			refs = append(refs, *metav1.NewControllerRef(pod, podKind))
		}
	}
	claim.OwnerReferences = refs
}

// claimsMatchRetention reports whether every existing claim of pod has the owners the
// retention policy asks for.
func (c *Controller) claimsMatchRetention(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue // created on a later pass
		}
		if err != nil {
			return false, fmt.Errorf("get claim %s: %w", want.Name, err)
		}
		if !ownersUpToDate(claim, set, pod) {
			return false, nil
		}
	}
	return true, nil
}

// applyRetention gives pod's existing claims the owners the retention policy asks for.
func (c *Controller) applyRetention(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	for _, want := range claimsFor(set, pod) {
		claim, err := c.claims.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get claim %s: %w", want.Name, err)
		}
		if ownersUpToDate(claim, set, pod) {
			continue
		}
		claim = claim.DeepCopy()
		setOwners(claim, set, pod)
		if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("set owners of claim %s for retention policy: %w", claim.Name, err)
		}
	}
	return nil
}
