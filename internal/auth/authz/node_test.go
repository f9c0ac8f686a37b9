package authz

import (
	"context"
	"testing"

	"github.com/gantryhq/gantry/internal/auth/authn"
)

var (
	node1       = &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"}}
	nodeNoName  = &authn.User{Name: "kubelet", Groups: []string{"system:nodes", "system:authenticated"}}
	notInGroup  = &authn.User{Name: "system:node:n1", Groups: []string{"system:authenticated"}}
	bootstrap   = &authn.User{Name: "system:bootstrap:abc123", Groups: []string{"system:bootstrappers", "system:bootstrappers:gantry:nodes", "system:authenticated"}}
	nodeGroupEx = &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes", "system:bootstrappers"}}
)

func sub(a Attributes, subresource string) Attributes {
	a.Subresource = subresource
	return a
}

// TestNodeDecisions is the authorizer the server is built with, as nodes and bootstrap
// tokens see it.
func TestNodeDecisions(t *testing.T) {
	server := Union{Masters{}, Node{}, Bootstrappers{}, PublicPaths{}}
	tests := []struct {
		name string
		a    Attributes
		want Decision
	}{
		// Reads a node agent needs.
		{"node lists pods", resource(node1, "list", "", "pods", "", ""), Allow},
		{"node watches pods", resource(node1, "watch", "", "pods", "", ""), Allow},
		{"node gets a secret", resource(node1, "get", "", "secrets", "default", "db"), Allow},
		{"node gets a configmap", resource(node1, "get", "", "configmaps", "default", "cfg"), Allow},
		{"node lists services", resource(node1, "list", "", "services", "", ""), Allow},
		{"node lists endpointslices", resource(node1, "list", "discovery.k8s.io", "endpointslices", "", ""), Allow},
		{"node gets a pv", resource(node1, "get", "", "persistentvolumes", "", "pv1"), Allow},
		{"node gets a claim", resource(node1, "get", "", "persistentvolumeclaims", "default", "c"), Allow},
		{"node lists storageclasses", resource(node1, "list", "storage.k8s.io", "storageclasses", "", ""), Allow},
		{"node lists csidrivers", resource(node1, "list", "storage.k8s.io", "csidrivers", "", ""), Allow},
		{"node lists runtimeclasses", resource(node1, "list", "node.k8s.io", "runtimeclasses", "", ""), Allow},
		{"node reads another node", resource(node1, "get", "", "nodes", "", "n2"), Allow},
		// Its own Node and Lease.
		{"node creates its node", resource(node1, "create", "", "nodes", "", ""), Allow},
		{"node updates its node", resource(node1, "update", "", "nodes", "", "n1"), Allow},
		{"node patches its node", resource(node1, "patch", "", "nodes", "", "n1"), Allow},
		{"node patches its node status", sub(resource(node1, "patch", "", "nodes", "", "n1"), "status"), Allow},
		{"node deletes itself", resource(node1, "delete", "", "nodes", "", "n1"), Allow},
		{"node updates another node", resource(node1, "update", "", "nodes", "", "n2"), Deny},
		{"node patches another node's status", sub(resource(node1, "patch", "", "nodes", "", "n2"), "status"), Deny},
		{"node deletes another node", resource(node1, "delete", "", "nodes", "", "n2"), Deny},
		{"node creates its lease", resource(node1, "create", "coordination.k8s.io", "leases", "kube-node-lease", ""), Allow},
		{"node gets its lease", resource(node1, "get", "coordination.k8s.io", "leases", "kube-node-lease", "n1"), Allow},
		{"node renews its lease", resource(node1, "update", "coordination.k8s.io", "leases", "kube-node-lease", "n1"), Allow},
		{"node renews another lease", resource(node1, "update", "coordination.k8s.io", "leases", "kube-node-lease", "n2"), Deny},
		{"node takes the controllers' lease", resource(node1, "update", "coordination.k8s.io", "leases", "kube-system", "n1"), Deny},
		{"node creates a lease elsewhere", resource(node1, "create", "coordination.k8s.io", "leases", "kube-system", ""), Deny},
		// Pods, events, certificates.
		{"node patches pod status", sub(resource(node1, "patch", "", "pods", "default", "p"), "status"), Allow},
		{"node deletes a pod", resource(node1, "delete", "", "pods", "default", "p"), Allow},
		{"node evicts a pod", sub(resource(node1, "create", "", "pods", "default", "p"), "eviction"), Allow},
		{"node creates a pod", resource(node1, "create", "", "pods", "default", ""), Deny},
		{"node updates a pod spec", resource(node1, "update", "", "pods", "default", "p"), Deny},
		{"node binds a pod", sub(resource(node1, "create", "", "pods", "default", "p"), "binding"), Deny},
		{"node creates an event", resource(node1, "create", "", "events", "default", ""), Allow},
		{"node patches an event", resource(node1, "patch", "events.k8s.io", "events", "default", "e"), Allow},
		{"node deletes an event", resource(node1, "delete", "", "events", "default", "e"), Deny},
		{"node requests a token", sub(resource(node1, "create", "", "serviceaccounts", "default", "default"), "token"), Allow},
		{"node creates a csr", resource(node1, "create", "certificates.k8s.io", "certificatesigningrequests", "", ""), Allow},
		{"node approves a csr", sub(resource(node1, "update", "certificates.k8s.io", "certificatesigningrequests", "", "c"), "approval"), Deny},
		// Outside a node's needs.
		{"node creates a deployment", resource(node1, "create", "apps", "deployments", "default", ""), Deny},
		{"node writes a secret", resource(node1, "update", "", "secrets", "default", "db"), Deny},
		{"node deletes a namespace", resource(node1, "delete", "", "namespaces", "", "default"), Deny},
		{"node reads roles", resource(node1, "list", "rbac.authorization.k8s.io", "roles", "", ""), Deny},
		{"node reads metrics path", path(node1, "get", "/metrics"), Deny},
		{"node reads discovery", path(node1, "get", "/apis"), Allow},
		// Who is a node.
		{"system:nodes without a node name", resource(nodeNoName, "list", "", "pods", "", ""), Deny},
		{"node name outside system:nodes", resource(notInGroup, "list", "", "pods", "", ""), Deny},
		// Bootstrap tokens.
		{"bootstrapper creates a csr", resource(bootstrap, "create", "certificates.k8s.io", "certificatesigningrequests", "", ""), Allow},
		{"bootstrapper gets a csr", resource(bootstrap, "get", "certificates.k8s.io", "certificatesigningrequests", "", "c"), Allow},
		{"bootstrapper watches csrs", resource(bootstrap, "watch", "certificates.k8s.io", "certificatesigningrequests", "", ""), Allow},
		{"bootstrapper deletes a csr", resource(bootstrap, "delete", "certificates.k8s.io", "certificatesigningrequests", "", "c"), Deny},
		{"bootstrapper approves a csr", sub(resource(bootstrap, "update", "certificates.k8s.io", "certificatesigningrequests", "", "c"), "approval"), Deny},
		{"bootstrapper writes csr status", sub(resource(bootstrap, "update", "certificates.k8s.io", "certificatesigningrequests", "", "c"), "status"), Deny},
		{"bootstrapper creates a node", resource(bootstrap, "create", "", "nodes", "", ""), Deny},
		{"bootstrapper lists pods", resource(bootstrap, "list", "", "pods", "", ""), Deny},
		{"bootstrapper reads secrets", resource(bootstrap, "get", "", "secrets", "kube-system", "bootstrap-token-abc123"), Deny},
		{"node and bootstrapper", resource(nodeGroupEx, "update", "", "nodes", "", "n1"), Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := server.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("decision %v (%s), want %v", got, reason, tt.want)
			}
		})
	}
}
