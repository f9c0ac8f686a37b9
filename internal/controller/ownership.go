package controller

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WithControllerRef returns refs without any reference to owner, plus, when adopt is set, a
// controller reference to owner (of kind gvk): what adopting or releasing a dependent writes.
func WithControllerRef(refs []metav1.OwnerReference, owner metav1.Object, gvk schema.GroupVersionKind, adopt bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if r.UID != owner.GetUID() {
			out = append(out, r)
		}
	}
	if adopt {
		out = append(out, *metav1.NewControllerRef(owner, gvk))
	}
	return out
}
