// Package resourcequota keeps every ResourceQuota's status (hard and used) true to the objects
// in its namespace, as kube-controller-manager's resourcequota controller does.
//
// The API server's ResourceQuota admission charges each admitted create to status.used before
// the object is stored; it never gives anything back. This controller recomputes status.used
// from the objects themselves, so usage freed by deleted objects, finished pods or shrunk claims
// returns, and a new or edited quota gets status.hard (admission refuses writes a quota covers
// until its status knows the usage: "status unknown for quota").
//
// Reconciling a quota: status.hard becomes spec.hard; for every resource in it, Kubernetes'
// evaluators (pods, services, claims, object counts, with the quota's scopes) sum the usage
// over the informer caches; the status is written through UpdateStatus, guarded by the
// resourceVersion read, only when it changed. Resources counted as count/<resource>.<group>
// are resolved through discovery the first time a quota names them.
//
// A quota is reconciled when it is created or its spec.hard differs from status.hard, when an
// object it could count is deleted or changes its usage (a pod finishing, a claim resized), and
// every five minutes. Admission's own charges (status-only updates) do not trigger a
// recomputation: the object just charged is not stored yet, and counting without it would hand
// its share back too early. The periodic recount has that window too, as in Kubernetes; it
// lasts between a charge and the store of the object, and admission's optimistic-concurrency
// charge keeps it from being overrun when the recount lands during a charge.
package resourcequota
