// Package nodelifecycle notices nodes that stop reporting and moves their pods away, as
// kube-controller-manager's node lifecycle and taint eviction controllers do.
//
// Monitoring. An agent proves it is alive by renewing its Lease in kube-node-lease and by
// posting node status. The controller remembers, per node, the newest heartbeat it has seen
// (the Lease's renewTime or the Ready condition's lastHeartbeatTime) and when, by its own
// clock, it first saw it: agents' clocks are never compared with ours. A node whose heartbeat
// has not moved for the grace period (40 s by default, kube-controller-manager's
// --node-monitor-grace-period) gets its Ready, MemoryPressure, DiskPressure and PIDPressure
// conditions set to Unknown ("Kubelet stopped posting node status."), and the pods on it are
// marked not Ready so that they leave Service endpoints. After a controller start or a
// leader change every node gets a full grace period.
//
// Tainting. A node's conditions and spec.unschedulable are mirrored into taints the scheduler
// and the eviction pass act on: Ready=Unknown gives node.kubernetes.io/unreachable, Ready=False
// node.kubernetes.io/not-ready (both NoSchedule and NoExecute); MemoryPressure, DiskPressure,
// PIDPressure and NetworkUnavailable give NoSchedule taints; spec.unschedulable gives
// node.kubernetes.io/unschedulable:NoSchedule. Taints with other keys are left alone.
//
// Eviction. A pod on a node with NoExecute taints is deleted at once if it does not tolerate
// one of them, and otherwise when the shortest tolerationSeconds among the tolerations it uses
// has passed since the taint was added; a toleration without seconds keeps the pod forever.
// The admission plugin DefaultTolerationSeconds gives every pod 300 s for not-ready and
// unreachable. An evicted pod first gets the DisruptionTarget condition
// (DeletionByTaintManager), then a graceful delete: its controller replaces it elsewhere
// while the unreachable agent cannot finish the deletion, as on Kubernetes.
package nodelifecycle
