// Package deployment rolls Deployments out through ReplicaSets, as kube-controller-manager's
// deployment controller does.
//
// Every reconcile starts from the ReplicaSets the Deployment controls (adopting orphans its
// selector matches and releasing those it no longer matches). The ReplicaSet whose pod
// template equals the Deployment's, ignoring the pod-template-hash label, is the new one; the
// others are old. The new ReplicaSet is named "<deployment>-<hash>", where hash is the FNV-32a
// hash of the template (and status.collisionCount, bumped when the name is taken by a
// different template), and carries the hash as the pod-template-hash label in its selector,
// its template and its own labels, so the pods of different revisions never overlap.
//
// Revisions: the new ReplicaSet's deployment.kubernetes.io/revision annotation is one more
// than the highest revision among the old ones; a template that returns to an old
// ReplicaSet's (kubectl rollout undo) reuses that ReplicaSet and moves its previous revision
// into deployment.kubernetes.io/revision-history. desired-replicas and max-replicas record the
// Deployment's size when the ReplicaSet was last scaled, for proportional scaling.
//
// Then, in upstream's order:
//   - a deleted or paused Deployment, or a scaling event (an active ReplicaSet whose
//     desired-replicas differs from spec.replicas), only scales: proportionally across the
//     active ReplicaSets for RollingUpdate; a paused Deployment never rolls;
//   - Recreate scales every old ReplicaSet to zero, waits for their pods to be gone, then
//     creates or scales up the new one;
//   - RollingUpdate scales the new ReplicaSet up while the total stays within
//     replicas+maxSurge, and scales old ones down (unhealthy pods first, oldest ReplicaSets
//     first) while at least replicas-maxUnavailable pods stay available.
//
// Status sums the ReplicaSets' status; the Available condition says whether
// replicas-maxUnavailable pods are available, and the Progressing condition follows the
// rollout (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
// NewReplicaSetAvailable) until it completes or spec.progressDeadlineSeconds pass without
// progress (ProgressDeadlineExceeded); the reconcile asks to be called again at the deadline.
// Once a rollout is complete, old ReplicaSets scaled to zero beyond revisionHistoryLimit are
// deleted, oldest revision first.
package deployment
