// Package persistentvolume binds PersistentVolumeClaims to PersistentVolumes and reclaims
// released volumes, as kube-controller-manager's persistentvolume-binder controller does (for
// volumes an administrator created; dynamic provisioning is not done here).
//
// Claims (one queue):
//   - A claim not yet bound (no pv.kubernetes.io/bind-completed annotation) that names no volume
//     gets the best Available volume: same storageClassName, access modes that include the
//     claim's (the volumes with the fewest modes are tried first), capacity at least the
//     request, matching selector and volumeMode, the smallest of those (matching is Kubernetes'
//     own, component-helpers' FindMatchingVolume). Binding is four writes, each idempotent, so
//     a crash between them is finished by the next sync: the volume's claimRef (with
//     pv.kubernetes.io/bound-by-controller), the volume's phase Bound, the claim's volumeName
//     and annotations (bind-completed, bound-by-controller), the claim's phase Bound with the
//     volume's capacity and access modes. Every write carries the resourceVersion read, so two
//     claims cannot take one volume: the loser conflicts and retries against fresh state.
//   - Without a match the claim stays Pending with upstream's event: WaitForFirstConsumer for a
//     class whose volumeBindingMode says so (the scheduler binds those), ExternalProvisioning
//     (and the storage-provisioner annotations) for a class with an external provisioner,
//     ProvisioningFailed for a missing class or an in-tree provisioner, FailedBinding for a
//     claim without a class. Pending claims are looked at again when a volume becomes
//     available and every 15 seconds (kube-controller-manager's sync period).
//   - A claim that names a volume (pre-bound by its user) binds to it if it is free and fits,
//     else stays Pending with a VolumeMismatch or FailedBinding event.
//   - A bound claim whose volume is gone, or went to another claim, is Lost (ClaimLost,
//     ClaimMisbound events).
//
// Volumes (another queue): a volume without claimRef, or pre-bound by name only, is
// Available; one bound to an existing claim that names it is Bound; one whose claim is gone
// (checked with a live read, not only the cache) is Released and reclaimed by its policy:
// Retain keeps it Released; Delete removes a hostPath volume under /tmp, leaves volumes of
// external provisioners and CSI drivers to them, and fails every other volume with upstream's
// VolumeFailedDelete message (no in-tree volume plugin can delete it); Recycle fails with
// VolumeFailedRecycle. A volume bound by the controller to a claim that now names another
// volume is released back to Available.
package persistentvolume
