// Package statefulset runs the pods of every StatefulSet, as kube-controller-manager's
// statefulset controller does: pods with stable ordinal names and storage, created, updated
// and removed in order.
//
// Identity. The pod with ordinal i (spec.ordinals.start <= i < start+spec.replicas) is named
// "<set>-<i>", has hostname "<set>-<i>" and subdomain spec.serviceName, and carries the labels
// statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
// controller-revision-hash (the name of the ControllerRevision it was built from). For every
// volumeClaimTemplate "<claim>" it mounts the PersistentVolumeClaim "<claim>-<set>-<i>", which
// is created before the pod and outlives it.
//
// Revisions. Every distinct pod template is recorded as a ControllerRevision named
// "<set>-<hash>" whose data is a strategic merge patch that restores the template (the form
// kubectl rollout history/undo read and apply). Revision numbers grow; returning to an older
// template renumbers its revision instead of making a new one. status.updateRevision is the
// revision of the current template, status.currentRevision the one the set is rolling away
// from; once every pod is updated and ready they become equal. Revisions no pod uses beyond
// spec.revisionHistoryLimit are deleted, oldest first. A hash collision with a foreign
// revision bumps status.collisionCount.
//
// Reconciling a StatefulSet:
//
//  1. Adopt orphan ControllerRevisions and pods the selector matches (pods only when their
//     name is "<set>-<ordinal>"); release owned pods it no longer matches.
//  2. Split the pods into replicas (ordinal in range) and condemned (out of range).
//  3. Walk the replicas in ordinal order: delete failed or succeeded pods (they are made
//     again, same name, on the next pass); create missing pods (claims first), at the current
//     revision below the partition and the update revision above it; fix the identity,
//     storage and claim ownership of live ones. With podManagementPolicy OrderedReady the walk
//     stops at the first pod it created, or that is terminating, not Running and Ready, or not
//     yet available for minReadySeconds: pod i+1 never exists before pod i is Ready. With
//     Parallel every replica is handled at once.
//  4. Remove condemned pods, highest ordinal first; with OrderedReady one at a time, each once
//     the one before is gone, and only when all the replicas are available. Before a pod goes,
//     its claims are given the ownership persistentVolumeClaimRetentionPolicy.whenScaled asks
//     for.
//  5. RollingUpdate: delete pods whose revision is not the update revision, from the highest
//     ordinal down to spec.updateStrategy.rollingUpdate.partition, so that at most
//     maxUnavailable replicas are unavailable; the walk in step 3 recreates them from the new
//     template. OnDelete: pods are only replaced when the user deletes them.
//  6. Write status (replicas, readyReplicas, availableReplicas, currentReplicas,
//     updatedReplicas, currentRevision, updateRevision, observedGeneration, collisionCount)
//     and trim the revision history.
//
// Claim retention. whenDeleted=Delete makes the set an owner of each claim (the garbage
// collector removes the claims with the set); whenScaled=Delete makes a condemned pod the
// owner of its claims before it is deleted (they go with the pod). Retain leaves claims
// unowned. A claim still owned by an earlier pod of the same name blocks creating the pod
// until the garbage collector has removed it.
//
// Creating and deleting pods and creating claims are recorded as events on the set, with
// upstream's reasons and messages (SuccessfulCreate "Create Pod web-0 in StatefulSet web
// successful", ...).
//
// Pod names are deterministic, so a lagging informer cannot cause duplicates: a create of a
// pod that already exists fails with AlreadyExists and the pod's add event brings the set
// back.
package statefulset
