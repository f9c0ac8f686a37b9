// Package serviceaccount keeps a ServiceAccount named "default" in every active namespace, as
// kube-controller-manager's serviceaccount controller does: pods that name no service account
// run as "default", so it must exist wherever pods may be created.
//
// The controller watches namespaces and service accounts. A namespace that is added or updated,
// or whose "default" service account is deleted, is queued by name; reconciling it creates the
// service account if the namespace is Active and the account is missing from the informer
// cache. A create that races with another (AlreadyExists) or with the namespace's deletion
// (Forbidden in a terminating namespace, NotFound) is done, not an error. Nothing is updated:
// the account's contents belong to its users.
package serviceaccount
