package authz

import (
	"context"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Identities of node agents and of the tokens that join them.
const (
	// GroupNodes is the group of every node agent's certificate.
	GroupNodes = user.NodesGroup
	// NodeUserPrefix starts a node agent's user name: system:node:<node name>.
	NodeUserPrefix = "system:node:"
	// GroupBootstrappers is the group of every bootstrap token's user.
	GroupBootstrappers = "system:bootstrappers"
	// NodeLeaseNamespace holds the nodes' heartbeat Leases.
	NodeLeaseNamespace = "kube-node-lease"
)

// Node is a simplified version of Kubernetes' Node authorizer (plugin/pkg/auth/authorizer/node)
// and NodeRestriction admission: it allows a node agent, user system:node:<name> in
// system:nodes, what the agent needs and has no opinion on anything else.
//
//   - read (get, list, watch): nodes, pods, services, endpoints, endpointslices, configmaps,
//     secrets, persistentvolumes and claims, storageclasses, csidrivers, csinodes,
//     volumeattachments, runtimeclasses, namespaces, and CertificateSigningRequests;
//   - its own Node, by name: get, update, patch, delete and the status subresource; creating
//     a Node (the name is in the body, not the URL, so it is not checked here);
//   - pods: delete, status update and patch, eviction; service account tokens for its pods;
//   - events (core and events.k8s.io): create, update, patch;
//   - its own Lease in kube-node-lease (create, get, update, patch, delete);
//   - CertificateSigningRequests: create, to renew its own certificate;
//   - persistentvolumeclaims/status update and patch (volume expansion).
//
// Upstream scopes reads and pod writes with a graph of what is bound to the node (a node may
// read only the secrets, config maps and claims of its own pods, write only its pods'
// status), and NodeRestriction checks the bodies of creates (the Node's name, mirror pods).
// Gantry leaves those out: a node here may read every secret and write any pod's status. The
// node's own Node and Lease are scoped, because that is cheap (the name is in the URL).
type Node struct{}

var _ Authorizer = Node{}

type rule struct {
	group    string
	resource string
	verbs    []string
	// own restricts the rule to objects named as the node (and, for leases, in
	// NodeLeaseNamespace); creates, which name no object in the URL, pass.
	own bool
}

var readVerbs = []string{"get", "list", "watch"}

var nodeRules = []rule{
	{"", "nodes", readVerbs, false},
	{"", "pods", readVerbs, false},
	{"", "services", readVerbs, false},
	{"", "endpoints", readVerbs, false},
	{"", "configmaps", readVerbs, false},
	{"", "secrets", readVerbs, false},
	{"", "persistentvolumes", readVerbs, false},
	{"", "persistentvolumeclaims", readVerbs, false},
	{"", "namespaces", readVerbs, false},
	{"discovery.k8s.io", "endpointslices", readVerbs, false},
	{"storage.k8s.io", "storageclasses", readVerbs, false},
	{"storage.k8s.io", "csidrivers", readVerbs, false},
	{"storage.k8s.io", "csinodes", readVerbs, false},
	{"storage.k8s.io", "volumeattachments", readVerbs, false},
	{"node.k8s.io", "runtimeclasses", readVerbs, false},
	{"certificates.k8s.io", "certificatesigningrequests", []string{"create", "get", "list", "watch"}, false},

	{"", "nodes", []string{"create", "update", "patch", "delete"}, true},
	{"", "nodes/status", []string{"get", "update", "patch"}, true},
	{"", "pods", []string{"delete"}, false},
	{"", "pods/status", []string{"get", "update", "patch"}, false},
	{"", "pods/eviction", []string{"create"}, false},
	{"", "serviceaccounts/token", []string{"create"}, false},
	{"", "persistentvolumeclaims/status", []string{"get", "update", "patch"}, false},
	{"", "events", []string{"create", "update", "patch"}, false},
	{"events.k8s.io", "events", []string{"create", "update", "patch"}, false},
	{"coordination.k8s.io", "leases", []string{"create", "get", "update", "patch", "delete"}, true},
}

// Authorize implements Authorizer.
func (Node) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if !a.User.InGroup(GroupNodes) {
		return NoOpinion, "", nil
	}
	node, ok := strings.CutPrefix(a.User.Name, NodeUserPrefix)
	if !ok || node == "" {
		return NoOpinion, "node authorizer: user " + a.User.Name + " is in " + GroupNodes + " but names no node", nil
	}
	if !a.ResourceRequest {
		return NoOpinion, "", nil
	}
	for _, r := range nodeRules {
		if !r.matches(a) {
			continue
		}
		if r.own && !ownObject(a, node) {
			return NoOpinion, "node authorizer: node " + node + " may only change its own " + a.Resource, nil
		}
		return Allow, "", nil
	}
	return NoOpinion, "node authorizer: node " + node + " may not " + a.Verb + " " + resourceName(a), nil
}

// ownObject reports whether a names the node's own Node or Lease (or no object: a create).
func ownObject(a Attributes, node string) bool {
	if a.Resource == "leases" && a.Namespace != NodeLeaseNamespace {
		return false
	}
	return a.Name == node || (a.Verb == "create" && a.Name == "")
}

// Bootstrappers allows the holders of bootstrap tokens (system:bootstrappers) to request a
// certificate and watch for it: create, get, list and watch CertificateSigningRequests. It
// has no opinion on anything else, as kubeadm's system:node-bootstrapper role grants no more.
type Bootstrappers struct{}

var _ Authorizer = Bootstrappers{}

// Authorize implements Authorizer.
func (Bootstrappers) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if !a.User.InGroup(GroupBootstrappers) || !a.ResourceRequest {
		return NoOpinion, "", nil
	}
	r := rule{"certificates.k8s.io", "certificatesigningrequests", []string{"create", "get", "list", "watch"}, false}
	if r.matches(a) {
		return Allow, "", nil
	}
	return NoOpinion, "bootstrap tokens may only request certificates", nil
}

func (r rule) matches(a Attributes) bool {
	if a.APIGroup != r.group || resourceName(a) != r.resource {
		return false
	}
	for _, v := range r.verbs {
		if v == a.Verb {
			return true
		}
	}
	return false
}

// resourceName is the resource with its subresource, as RBAC names it: "nodes/status".
func resourceName(a Attributes) string {
	if a.Subresource != "" {
		return a.Resource + "/" + a.Subresource
	}
	return a.Resource
}
