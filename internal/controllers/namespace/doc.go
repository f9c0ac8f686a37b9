// Package namespace empties namespaces that are being deleted and then releases them, as
// kube-controller-manager's namespace controller does
// (k8s.io/kubernetes/pkg/controller/namespace/deletion).
//
// Deleting a namespace only marks it: the API server sets its deletionTimestamp and phase
// Terminating (its admission then refuses new content) and keeps the "kubernetes" entry of
// spec.finalizers. This controller is what that finalizer waits for. For a namespace being
// deleted, a short while after the informer shows it (so that creates admitted just before
// the namespace turned Terminating have landed):
//
//  1. It reads the namespace live and makes sure its phase is Terminating.
//  2. It asks discovery for every preferred namespaced resource that can be deleted, and
//     deletes the namespace's pods first: with deletecollection where the resource supports
//     it, else by listing and deleting each item, always with propagationPolicy Background (so
//     that no orphan finalizer keeps anything). While pods remain, nothing else is touched:
//     pods may still use the other content (secrets, config maps, service accounts).
//  3. Then every other resource the same way, and lists each again to see what remains.
//  4. It records what it saw in the namespace's status conditions (NamespaceContentRemaining,
//     NamespaceFinalizersRemaining, NamespaceDeletionContentFailure,
//     NamespaceDeletionDiscoveryFailure, NamespaceDeletionGroupVersionParsingFailure), with
//     upstream's reasons and messages.
//  5. If content remains, it looks again later: after half the longest grace period of the
//     remaining pods (upstream's estimate), or 8 s when remaining objects carry finalizers
//     (the garbage collector's, say); remaining objects with neither are an error, retried
//     with backoff. Bound pods are deleted with their normal grace period, not forced: their
//     node's agent finishes them, as the kubelet does upstream.
//  6. When nothing remains, it removes "kubernetes" from spec.finalizers through the
//     namespaces/{name}/finalize subresource, and the API server deletes the namespace once no
//     finalizer is left.
//
// Objects are reached through the metadata client, so every resource is handled alike
// without knowing its type.
package namespace
