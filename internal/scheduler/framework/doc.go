// Package framework holds what placement is computed from and with: the parsed pod
// (PodInfo), the node with its aggregates (NodeInfo), the read-only cluster Snapshot with
// its indexes, the Filter and Scorer contracts that internal/scheduler/filter and
// internal/scheduler/score implement, and FitError, which formats "0/3 nodes are
// available: …" exactly as Kubernetes does.
//
// Nothing here does I/O or keeps time: the same snapshot and pod always give the same
// answer, which is what lets the placement code be tested with plain tables.
package framework
