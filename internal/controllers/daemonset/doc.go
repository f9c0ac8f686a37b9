// Package daemonset runs one pod of every DaemonSet on each eligible node, as
// kube-controller-manager's daemonset controller does.
//
// Eligibility: a node is eligible for a DaemonSet when it matches the pod template's
// spec.nodeName (if set), nodeSelector and required node affinity, and has no NoSchedule or
// NoExecute taint that the template's tolerations, plus the tolerations every daemon pod gets,
// leave untolerated. The default tolerations are node.kubernetes.io/not-ready and unreachable
// (NoExecute, no tolerationSeconds), disk-pressure, memory-pressure, pid-pressure and
// unschedulable (NoSchedule), and network-unavailable for hostNetwork pods. A pod already on
// a node that gained an untolerated NoSchedule taint may stay; an untolerated NoExecute taint
// or a selector that no longer matches removes it.
//
// Reconciling a DaemonSet:
//
//  1. Claim pods and ControllerRevisions: those the DaemonSet controls and its selector
//     matches are its own, matching orphans are adopted, owned ones that no longer match are
//     released.
//  2. History: the ControllerRevision whose data (a strategic merge patch that replaces
//     spec.template) equals the current template is the current one; if there is none it is
//     created as "<ds>-<hash>" with revision max(old)+1, where hash is the FNV hash of the
//     template and status.collisionCount. A current revision older than an old one (kubectl
//     rollout undo) is renumbered max(old)+1. The hash labels new pods
//     (controller-revision-hash), next to pod-template-generation.
//  3. Manage, once the expectations of earlier creates and deletes are met: per node, create
//     a pod on an eligible node that has none; delete every pod on a node that may no longer
//     run one; delete failed pods (at most once per backoff, 1s doubling to 15min, per node
//     and spec generation) and succeeded ones, so that they are recreated; keep only the oldest
//     pod of a node (or, with maxSurge, one old and one new). Pods are created with required
//     node affinity matchFields metadata.name In [node], which the scheduler honours, and the
//     default tolerations. Unscheduled pods aimed at a node that no longer exists are deleted.
//  4. RollingUpdate: without maxSurge, delete old pods (not matching the current hash) while
//     at most maxUnavailable of the desired nodes lack an available new pod; unavailable old
//     pods are always replaced. With maxSurge, create a new pod next to an old one on up to
//     maxSurge nodes and delete the old pod once the new one is available. OnDelete replaces
//     nothing: a new pod comes only when the user deletes the old one.
//  5. Delete old ControllerRevisions beyond revisionHistoryLimit, oldest first, except those
//     whose hash a live pod still carries.
//  6. Status: desiredNumberScheduled (eligible nodes), currentNumberScheduled (eligible nodes
//     with a pod), numberMisscheduled (pods on ineligible nodes), numberReady,
//     numberAvailable and updatedNumberScheduled (of each eligible node's oldest pod),
//     numberUnavailable and observedGeneration. observedGeneration is raised only by a
//     reconcile that managed the pods.
//
// Nodes are followed: a node added, relabelled, tainted or deleted enqueues the DaemonSets
// whose verdict for it changes. Pods on deleted nodes are left to pod garbage collection, as
// upstream does.
package daemonset
