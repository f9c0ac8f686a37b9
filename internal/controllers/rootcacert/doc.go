// Package rootcacert publishes the cluster CA to every active namespace as the ConfigMap
// "kube-root-ca.crt" (key "ca.crt"), as kube-controller-manager's root-ca-cert-publisher does:
// pods mount it (projected service account volumes) to verify the API server.
//
// The controller watches namespaces and config maps. A namespace that is added or updated, or
// whose kube-root-ca.crt is changed or deleted, is queued by name; reconciling it creates the
// config map if it is missing, and rewrites its data (and the kubernetes.io/description
// annotation) if anyone changed them, so that it always holds exactly the CA. Other keys and
// annotations are dropped with the edit, as upstream. Creates refused because the namespace is
// going away are done, not errors.
package rootcacert
