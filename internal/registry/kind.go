// Package registry describes every kind the API server serves and the per-kind behaviour that
// Kubernetes defines for it: defaults, validation, the spec/status split, generation bumps,
// selectable fields and the columns of `kubectl get`.
//
// The behaviour itself comes from Kubernetes' own packages (pkg/apis/*, pkg/printers); this
// package only adapts them to the versioned k8s.io/api objects the API server handles. Adding a
// kind is adding one entry to the table in kinds.go.
package registry

import (
	"context"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind is one served resource.
type Kind struct {
	// GroupVersionKind of the object, e.g. apps/v1 Deployment.
	GroupVersionKind schema.GroupVersionKind
	// Resource is the lower-case plural used in URLs: "deployments".
	Resource   string
	Singular   string
	Namespaced bool
	ShortNames []string
	// Categories such as "all", used by `kubectl get all`.
	Categories []string
	// Subresources served besides the object: "status", "scale", "binding", "eviction",
	// "finalize", "approval" (CSRs), and the node-agent ones: pods' "log", "exec", "attach", "portforward" and
	// nodes' "proxy".
	Subresources []string
	// New returns an empty versioned object (a k8s.io/api type); NewList its list type.
	New     func() runtime.Object
	NewList func() runtime.Object
	// Scale is set for kinds with a scale subresource.
	Scale *Scaler
	// Strategy holds the per-kind rules.
	Strategy Strategy
	// Storage is, for a resource served in several versions (or groups), the kind whose
	// version is stored; every version reads and writes the same objects through it. Nil means
	// the kind stores itself.
	Storage *Kind
}

// StorageKind is the kind whose version is stored for k.
func (k *Kind) StorageKind() *Kind {
	if k.Storage != nil {
		return k.Storage
	}
	return k
}

// GroupVersionResource of the kind.
func (k *Kind) GroupVersionResource() schema.GroupVersionResource {
	return k.GroupVersionKind.GroupVersion().WithResource(k.Resource)
}

// HasSubresource reports whether name is one of the kind's subresources.
func (k *Kind) HasSubresource(name string) bool {
	for _, s := range k.Subresources {
		if s == name {
			return true
		}
	}
	return false
}

// Scaler reads and writes the autoscaling/v1 Scale view of an object.
type Scaler struct {
	// Get builds the Scale of obj (spec.replicas, status.replicas, status.selector).
	Get func(obj runtime.Object) (*autoscalingv1.Scale, error)
	// Set writes scale.Spec.Replicas into obj.
	Set func(obj runtime.Object, scale *autoscalingv1.Scale) error
}

// Strategy is the per-kind behaviour, applied to versioned objects in this order on a write:
// Prepare*, Default, Validate*. Every method must be safe for concurrent use.
type Strategy interface {
	// PrepareForCreate clears what clients may not set on create (status, for kinds with a
	// status subresource) and initialises generation.
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate keeps what a write to the main resource may not change (status) and
	// bumps generation when the spec changed.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// PrepareForStatusUpdate keeps everything but status from old.
	PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object)
	// PrepareForApprovalUpdate keeps everything but status.conditions from old, for the
	// approval subresource of CertificateSigningRequests.
	PrepareForApprovalUpdate(ctx context.Context, obj, old runtime.Object)
	// Default applies Kubernetes' defaulting functions.
	Default(obj runtime.Object)
	// Validate checks a new object; ValidateUpdate and ValidateStatusUpdate check a change.
	// The errors carry Kubernetes' field paths and messages.
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	ValidateApprovalUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// AllowCreateOnUpdate reports whether a PUT to a missing object creates it.
	AllowCreateOnUpdate() bool
	// Fields returns the fields a field selector may match: metadata.name and
	// metadata.namespace for every kind, plus kind-specific ones (spec.nodeName for pods...).
	Fields(obj runtime.Object) fields.Set
	// Table renders obj, a single object or a list, as `kubectl get` shows it. Rows follow the
	// list's item order; their Object is left for the caller to fill.
	Table(ctx context.Context, obj runtime.Object, opts TableOptions) (*metav1.Table, error)
}

// TableOptions choose the columns of a Table.
type TableOptions struct {
	// Wide includes the columns `-o wide` shows.
	Wide bool
	// NoHeaders omits the column definitions.
	NoHeaders bool
}
