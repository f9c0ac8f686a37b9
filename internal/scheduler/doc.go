// Package scheduler binds pending pods to nodes: Gantry's kube-scheduler.
//
// It is two layers (README.md explains the algorithm):
//
//   - Placement is pure: Algorithm.Schedule filters and scores the nodes of a
//     framework.Snapshot for one pod, and Algorithm.Preempt chooses victims for a pod that fits
//     nowhere. No I/O, no clock, no randomness: the same snapshot and pod give the same answer,
//     so it is tested with tables (algorithm_test.go, preemption_test.go). The predicates and
//     scorers are in the filter and score packages, with Kubernetes' names, formulas and
//     failure messages.
//   - Scheduler is the thin layer around it: informers feed a Queue (backoff, retries on
//     cluster events) and a cache that owns the snapshot; one loop pops a pod, applies the
//     cluster changes seen since the last pod, places the pod, assumes it in the snapshot and
//     hands the binding to a background writer, so that many bindings are in flight while the
//     next pods are placed. Writes go through small interfaces (Binder, Evictor, StatusWriter,
//     an events.EventRecorder) whose default implementations use client-go.
//
// Volumes (volumebinding.go, upstream's VolumeBinding): a filter restricts a pod to the nodes
// its bound claims' volumes allow and where each unbound WaitForFirstConsumer claim has an
// available volume or a class that provisions there; before the binding is written, those
// claims get their volume (claimRef) or the volume.kubernetes.io/selected-node annotation, and
// the write waits until the persistentvolume controller has bound them.
//
// The package reaches the cluster only through client-go, never internal/storage or
// internal/apiserver, so it runs against any conformant API server. Leader election is the
// caller's: Run is what a leader runs, until its context ends.
package scheduler
