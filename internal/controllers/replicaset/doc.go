// Package replicaset keeps spec.replicas pods running for every ReplicaSet, as
// kube-controller-manager's replicaset controller does.
//
// Reconciling a ReplicaSet:
//
//  1. Claim pods: active pods (not terminal, not being deleted) that the ReplicaSet controls
//     and its selector matches are its own; orphans the selector matches are adopted (a live
//     read first confirms the ReplicaSet is not being deleted); owned pods the selector no
//     longer matches are released. Ownership changes are Updates guarded by resourceVersion.
//  2. If the expectations are satisfied, create or delete pods to match spec.replicas. Pods
//     come from the template with generateName "<rs>-" and a controller ownerReference with
//     blockOwnerDeletion. Creations are batched with slow start (1, 2, 4, ...) so a failing
//     create does not storm the API. Scale-down deletes the pods that matter least first:
//     unscheduled, then pending, then not ready, then the most recently ready and created.
//  3. Write status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//     observedGeneration) through UpdateStatus when it changed.
//
// Expectations: the informer may lag behind the controller's own writes. Before it creates n
// pods the controller records that it expects to see n pod additions, and before it deletes
// pods it records their UIDs; until the informer has shown them (or five minutes pass), the
// ReplicaSet is not resized again, so a lagging cache never causes double creates or deletes.
//
// ReplicationControllers: as upstream's replication controller, the same controller keeps
// core/v1 ReplicationControllers (NewFor with ReplicationControllers). The Owners interface
// lists them converted to ReplicaSets (selector map as matchLabels, conditions of the same
// types), writes status back to the RC's status subresource, records events on the RC, and
// names kind ReplicationController, apiVersion v1 in pods' controller references.
package replicaset
