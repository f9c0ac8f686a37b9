package registry

import (
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// ConvertFieldLabel checks one label of a field selector as kube-apiserver does before
// matching it against Strategy.Fields: it returns the label to match (pods map the legacy
// spec.host to spec.nodeName; events.k8s.io maps regarding.kind to involvedObject.kind...)
// and the value, or Kubernetes' error for a label the kind does not support, e.g.
// `field label not supported: spec.foo`, which kube-apiserver answers with 400 BadRequest.
// Kinds without their own conversion accept only metadata.name and metadata.namespace.
func (k *Kind) ConvertFieldLabel(label, value string) (string, string, error) {
	return legacyscheme.Scheme.ConvertFieldLabel(k.GroupVersionKind, label, value)
}
