package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceGetter reads a namespace; it returns a NotFound API error for a missing one.
type NamespaceGetter interface {
	GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// NamespaceLifecycle refuses new objects in namespaces that do not exist or are being deleted,
// and the deletion of the namespaces the cluster itself needs.
type NamespaceLifecycle struct {
	Namespaces NamespaceGetter
}

var _ Validator = (*NamespaceLifecycle)(nil)

// immortal namespaces cannot be deleted.
var immortal = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

var namespacesResource = corev1.SchemeGroupVersion.WithResource("namespaces").GroupResource()

func (p *NamespaceLifecycle) Validate(ctx context.Context, a *Attributes) error {
	if a.Resource.GroupResource() == namespacesResource {
		if a.Operation == Delete && immortal[a.Name] {
			return apierrors.NewForbidden(namespacesResource, a.Name, fmt.Errorf("this namespace may not be deleted"))
		}
		return nil
	}
	if a.Operation != Create || a.Namespace == "" {
		return nil
	}
	// Events about objects in a terminating namespace must still be recordable.
	ns, err := p.Namespaces.GetNamespace(ctx, a.Namespace)
	if err != nil {
		return err
	}
	if ns.Status.Phase == corev1.NamespaceTerminating && a.Kind.Kind != "Event" && a.Subresource == "" {
		err := apierrors.NewForbidden(a.Resource.GroupResource(), a.Name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
		// Controllers recognise this refusal by its cause, as in Kubernetes.
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}
