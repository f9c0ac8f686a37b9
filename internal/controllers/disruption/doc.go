// Package disruption is the PodDisruptionBudget controller: it keeps every budget's status
// current, so that the API server's eviction subresource can decide whether one more pod may
// go.
//
// For each PodDisruptionBudget it lists the pods in its namespace that its selector matches
// (in policy/v1 an empty selector matches every pod) and computes, as kube-controller-manager
// does:
//
//   - expectedPods and desiredHealthy. With an integer minAvailable, expectedPods is the number
//     of matching pods and desiredHealthy is minAvailable. With a percentage minAvailable or
//     any maxUnavailable, expectedPods is the sum of the replicas of the pods' controllers
//     (ReplicationController, Deployment through its ReplicaSet, ReplicaSet, StatefulSet);
//     desiredHealthy is the percentage of it rounded up, or expectedPods minus maxUnavailable
//     (a percentage rounded up), never below zero. Pods without a controller are reported with
//     an UnmanagedPods event and left out; a pod whose controller cannot be found, or is of a
//     kind without a scale (a Job, a DaemonSet), fails the sync.
//   - disruptedPods: the entries the eviction subresource recorded. An entry is kept while
//     its pod exists, is not being deleted and was evicted less than DeletionTimeout ago; an
//     older entry is dropped with a NotDeleted event, and the budget is looked at again when
//     the nearest entry expires.
//   - currentHealthy: the Ready pods that are neither being deleted nor in disruptedPods.
//   - disruptionsAllowed: currentHealthy - desiredHealthy, at least zero, and zero while no pod
//     is expected (so that a new budget is safe before its first sync).
//   - the DisruptionAllowed condition (SufficientPods / InsufficientPods) and
//     observedGeneration.
//
// Status is written only when it changed. When a sync fails for another reason than a write
// conflict, the controller "fails safe": it sets disruptionsAllowed to zero and the condition
// to False with reason SyncFailed and the error as message, so no eviction is allowed on stale
// numbers.
//
// A budget is synced when it changes and when a pod its selector matches is added, changed or
// deleted.
//
// A second loop, as upstream, watches pods that carry a True DisruptionTarget condition (set by
// preemption or eviction just before the delete) without being deleted: after
// StalePodDisruptionTimeout it resets the condition to False, since the disruption did not
// happen. The kubelet's own condition (reason TerminationByKubelet) and finished pods are left
// alone.
package disruption
