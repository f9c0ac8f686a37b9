package admission

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// forbidden is a plugin's refusal of the write a describes, worded as kube-apiserver words it:
// `<resource> "<name>" is forbidden: <err>`.
func forbidden(a *Attributes, err error) error {
	if apierrors.IsForbidden(err) {
		return err
	}
	name := a.Name
	if name == "" {
		name = "Unknown"
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), name, err)
}
