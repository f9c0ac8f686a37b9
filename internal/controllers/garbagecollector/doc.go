// Package garbagecollector implements Kubernetes' ownerReference semantics: objects whose
// owners are gone are deleted, and the Foreground and Orphan deletion policies are carried out.
// It is a smaller rewrite of k8s.io/kubernetes/pkg/controller/garbagecollector.
//
// # The graph
//
// When Run starts, the collector asks discovery for every preferred resource that can be
// listed, watched and deleted (events excepted, as upstream), and watches each with a metadata
// informer. Every observed object becomes a node of an owner→dependents graph keyed by UID
// (graph.go). An owner that some dependent names but no informer has shown yet is a *virtual*
// node, built from the ownerReference's coordinates. The graph only decides *whom to look at*:
// each change returns the UIDs to examine, and the collector never deletes on the graph's word
// alone.
//
// # Two queues
//
// attemptToDelete (attempt.go) examines one object:
//
//   - It reads the object live from the API (GET by name, UID compared). If it is gone, the
//     object's dependents are examined in turn (that is how a virtual owner that never existed,
//     or was deleted while nobody watched, releases its dependents).
//   - If the object is waiting for its dependents (deletionTimestamp and the foregroundDeletion
//     finalizer), it deletes, with Foreground, the dependents whose reference to it has
//     blockOwnerDeletion, and removes the finalizer once none is left in the graph.
//   - Otherwise each of its ownerReferences is classified by a live GET of the owner, UID
//     compared: dangling (no such object), waiting (the owner is being deleted in the
//     foreground) or solid. With a solid owner the object stays, and references to dangling
//     and waiting owners are removed from it. With only waiting and dangling owners it is
//     deleted: Foreground if it has dependents itself and an owner waits for it, so that
//     whole trees go bottom-up, else with the policy its own finalizers ask for (Background by
//     default, so that trees collapse top-down).
//
// Deletes carry UID and resourceVersion preconditions, so an object that changed since it was
// read is examined again rather than deleted. Owners confirmed absent by a GET are remembered
// by their exact coordinates in a small LRU, since a UID, once gone, never returns.
//
// attemptToOrphan (orphan.go) handles an owner that carries the orphan finalizer: it removes
// the ownerReferences to it from every dependent in the graph, then removes the finalizer (and
// the API server deletes the owner).
//
// Both queues are the kit's (internal/controller) with UIDs as keys; an error means retry with
// backoff. Ownership changes are written as JSON merge patches of the whole
// metadata.ownerReferences or metadata.finalizers list with the object's resourceVersion,
// retried on conflict: they work for every resource without knowing its schema.
//
// Not done (upstream does): re-running discovery to pick up new resources, events about
// invalid ownerReferences, the graph dump endpoint and metrics.
package garbagecollector
