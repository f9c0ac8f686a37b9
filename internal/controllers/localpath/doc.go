// Package localpath provisions PersistentVolumes for claims of the default StorageClass
// "local-path": a directory on the node the claim's first pod was scheduled to, as k3s's
// local-path-provisioner does, but without helper pods.
//
// The class (provisioner gantry.dev/local-path, volumeBindingMode WaitForFirstConsumer,
// reclaimPolicy Delete, the default class) is created when the controller starts, if it is
// missing. The flow is the external-provisioner protocol:
//
//  1. the scheduler places a pod whose claim is unbound and sets the claim's
//     volume.kubernetes.io/selected-node annotation;
//  2. the persistentvolume binder annotates the claim with
//     volume.kubernetes.io/storage-provisioner and records ExternalProvisioning;
//  3. this controller creates the volume pvc-<claim uid>: local path <dir>/pvc-<claim uid>,
//     required node affinity to the selected node's kubernetes.io/hostname, the claim's
//     request as capacity, its access modes and volume mode, the class's reclaim policy and
//     mount options, a claimRef to the claim and pv.kubernetes.io/provisioned-by
//     (events Provisioning and ProvisioningSucceeded, or ProvisioningFailed);
//  4. the binder binds claim and volume through the claimRef; the node's agent creates the
//     directory when it first mounts the volume (this controller runs on a server, which
//     need not be the node).
//
// Reclaim: when a volume of this provisioner is Released and its policy is Delete, the
// controller deletes the volume object; the node's agent then removes the directory. The
// directory prefix is an option (--local-path-dir, DATA/storage by default): every node uses
// the same.
package localpath
