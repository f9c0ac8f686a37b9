// Package endpoints publishes the pods behind every Service with a selector, as
// kube-controller-manager's endpoint and endpointslice controllers do: as a v1 Endpoints
// object named after the Service, and as discovery.k8s.io/v1 EndpointSlices.
//
// Both controllers reconcile a Service key; a Service, or a pod whose labels its selector
// matches (before or after a change), enqueues it. Services without a selector and
// ExternalName Services are left alone: their endpoints are written by whoever manages them.
//
// Endpoints: every pod that should be in endpoints (it has an IP of the Service's first IP
// family, is not finished, and is not being deleted unless publishNotReadyAddresses) gives
// one address per Service port, the port resolved from the pod's container ports when
// targetPort is a name; ready pods (or all, with publishNotReadyAddresses) go to addresses,
// the others to notReadyAddresses. Each address has the pod as targetRef, its nodeName, and,
// when the pod's hostname and subdomain name a headless Service, the hostname. Subsets are
// repacked (grouped by port set, sorted) so the object is stable. The object carries the
// Service's labels, service.kubernetes.io/headless for headless Services,
// endpoints.kubernetes.io/managed-by=endpoint-controller and the
// endpoints.kubernetes.io/last-change-trigger-time annotation; beyond 1000 addresses it is
// truncated and annotated endpoints.kubernetes.io/over-capacity=truncated. A deleted Service
// takes its Endpoints with it.
//
// EndpointSlices are computed by k8s.io/endpointslice's reconciler, the one
// kube-controller-manager runs: slices of at most 100 endpoints per address family and port
// set, labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io, owned by the
// Service, with conditions ready, serving and terminating, nodeName, the node's
// topology.kubernetes.io/zone, and hostname. A tracker of the generations the controller
// wrote tells its own changes from others' and a stale cache from a current one.
package endpoints
