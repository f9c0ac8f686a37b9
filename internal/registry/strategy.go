package registry

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/operation"
	"k8s.io/apimachinery/pkg/api/validate/content"
	genericvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// rules is the behaviour of one kind's strategy in Kubernetes (pkg/registry/<group>/<kind>),
// written as upstream writes it: against I, Kubernetes' internal type for the kind. V is the
// served versioned type (a k8s.io/api type). A nil function does nothing, or finds nothing.
type rules[V, I runtime.Object] struct {
	// prepareCreate, prepareUpdate and prepareStatusUpdate are upstream's PrepareForCreate,
	// PrepareForUpdate and the status strategy's PrepareForUpdate. Before prepareUpdate and
	// prepareStatusUpdate run, obj's generation has been reset to old's, as the generic
	// registry does, so they only bump it.
	prepareCreate       func(ctx context.Context, obj I)
	prepareUpdate       func(ctx context.Context, obj, old I)
	prepareStatusUpdate func(ctx context.Context, obj, old I)
	// prepareApprovalUpdate and validateApprovalUpdate are the approval subresource's
	// strategy (CertificateSigningRequests only).
	prepareApprovalUpdate  func(ctx context.Context, obj, old I)
	validateApprovalUpdate func(ctx context.Context, obj, old I) field.ErrorList

	// validate, validateUpdate and validateStatusUpdate are upstream's handwritten validation.
	validate             func(ctx context.Context, obj I) field.ErrorList
	validateUpdate       func(ctx context.Context, obj, old I) field.ErrorList
	validateStatusUpdate func(ctx context.Context, obj, old I) field.ErrorList

	// declarative is upstream's DeclarativeValidationConfig; old is nil on create.
	declarative func(obj, old I) rest.DeclarativeValidationConfig

	// fields returns the kind's own selectable fields, as upstream's GetAttrs does;
	// metadata.name and metadata.namespace are added for every kind.
	fields func(obj V) fields.Set

	allowCreateOnUpdate bool

	// defaultTable selects kube-apiserver's default NAME, CREATED AT table, for the kinds
	// pkg/printers has no handler for (roles, clusterroles, limitranges).
	defaultTable bool
}

// strategy adapts rules to the Strategy interface. Every method converts the versioned
// objects it is given to the internal type with legacyscheme.Scheme, runs the rules, and
// converts the result back in place.
type strategy[V, I runtime.Object] struct {
	gvk        schema.GroupVersionKind
	resource   string
	namespaced bool
	rules[V, I]
}

var _ Strategy = (*strategy[runtime.Object, runtime.Object])(nil)

// PrepareForCreate defaults obj first: upstream's rules see decoded, hence defaulted, objects
// (the pod QoS class, the job selector), whichever order the caller applies Prepare and Default.
func (s *strategy[V, I]) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.Default(obj)
	in, err := s.toInternal(obj)
	if err != nil {
		return // Validate reports it.
	}
	if s.prepareCreate != nil {
		s.prepareCreate(s.request(ctx, obj, ""), in)
	}
	s.fromInternal(in, obj)
}

// PrepareForUpdate defaults obj first so that fields a client left out do not read as a spec
// change, then keeps the generation of old and lets the rules bump it.
func (s *strategy[V, I]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.prepareChange(ctx, obj, old, "", s.rules.prepareUpdate)
}

func (s *strategy[V, I]) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.rules.prepareStatusUpdate == nil {
		// No status subresource: a write through it changes nothing.
		if in, err := s.toInternal(old.DeepCopyObject()); err == nil {
			s.fromInternal(in, obj)
		}
		return
	}
	s.prepareChange(ctx, obj, old, "status", s.rules.prepareStatusUpdate)
}

func (s *strategy[V, I]) PrepareForApprovalUpdate(ctx context.Context, obj, old runtime.Object) {
	s.prepareChange(ctx, obj, old, "approval", s.rules.prepareApprovalUpdate)
}

func (s *strategy[V, I]) prepareChange(ctx context.Context, obj, old runtime.Object, subresource string, prepare func(ctx context.Context, obj, old I)) {
	s.Default(obj)
	in, err := s.toInternal(obj)
	if err != nil {
		return
	}
	// The rules may modify old (PVC normalises its data sources): give them a copy.
	oldIn, err := s.toInternal(old.DeepCopyObject())
	if err != nil {
		return
	}
	if m, o := accessor(in), accessor(oldIn); m != nil && o != nil {
		m.SetGeneration(o.GetGeneration())
	}
	if prepare != nil {
		prepare(s.request(ctx, obj, subresource), in, oldIn)
	}
	s.fromInternal(in, obj)
}

// Default applies the defaulting functions registered in legacyscheme.Scheme.
func (s *strategy[V, I]) Default(obj runtime.Object) {
	legacyscheme.Scheme.Default(obj)
}

// Validate runs what kube-apiserver runs on create: the strategy's handwritten validation,
// the generic metadata checks when that passed, then declarative validation, merged as
// k8s.io/apiserver/pkg/registry/rest merges them.
func (s *strategy[V, I]) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	in, err := s.toInternal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	ctx = s.request(ctx, obj, "")
	var errs field.ErrorList
	if s.validate != nil {
		errs = s.validate(ctx, in)
	}
	if len(errs) == 0 {
		errs = append(errs, genericvalidation.ValidateObjectMetaAccessor(accessor(obj), s.namespaced, pathSegmentName, field.NewPath("metadata"))...)
	}
	var none I
	return s.validateDeclaratively(ctx, in, none, errs, operation.Create)
}

func (s *strategy[V, I]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.validateChange(ctx, obj, old, "", s.validateUpdate)
}

func (s *strategy[V, I]) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.validateStatusUpdate == nil {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("%s has no status subresource", s.resource))}
	}
	return s.validateChange(ctx, obj, old, "status", s.validateStatusUpdate)
}

func (s *strategy[V, I]) ValidateApprovalUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.validateApprovalUpdate == nil {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("%s has no approval subresource", s.resource))}
	}
	return s.validateChange(ctx, obj, old, "approval", s.validateApprovalUpdate)
}

func (s *strategy[V, I]) validateChange(ctx context.Context, obj, old runtime.Object, subresource string, validate func(ctx context.Context, obj, old I) field.ErrorList) field.ErrorList {
	in, err := s.toInternal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := s.toInternal(old)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	ctx = s.request(ctx, obj, subresource)
	newMeta, oldMeta := accessor(obj), accessor(old)
	errs := genericvalidation.ValidateObjectMetaAccessor(newMeta, s.namespaced, pathSegmentName, field.NewPath("metadata"))
	errs = append(errs, genericvalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, field.NewPath("metadata"))...)
	if validate != nil {
		errs = append(errs, validate(ctx, in, oldIn)...)
	}
	return s.validateDeclaratively(ctx, in, oldIn, errs, operation.Update)
}

// validateDeclaratively runs the generated declarative validation; oldIn is the zero I on create.
func (s *strategy[V, I]) validateDeclaratively(ctx context.Context, in, oldIn I, errs field.ErrorList, op operation.Type) field.ErrorList {
	var cfg rest.DeclarativeValidationConfig
	var old runtime.Object // stays an untyped nil on create
	if op == operation.Update {
		old = oldIn
	}
	if s.declarative != nil {
		cfg = s.declarative(in, oldIn)
	}
	return rest.ValidateDeclarativelyWithMigrationChecks(ctx, legacyscheme.Scheme, in, old, errs, op, cfg)
}

func (s *strategy[V, I]) AllowCreateOnUpdate() bool { return s.allowCreateOnUpdate }

// Fields returns metadata.name, metadata.namespace and the kind's own selectable fields.
// Kubernetes first converts a selector's labels with the kind's field label conversion (see
// Kind.ConvertFieldLabel), then matches the converted labels against this set.
func (s *strategy[V, I]) Fields(obj runtime.Object) fields.Set {
	m := accessor(obj)
	if m == nil {
		return fields.Set{}
	}
	set := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	if v, ok := obj.(V); ok && s.fields != nil {
		for k, val := range s.fields(v) {
			set[k] = val
		}
	}
	return set
}

// request returns ctx carrying the RequestInfo that upstream's strategies and declarative
// validation read: the group and version served, the subresource and the object's name.
func (s *strategy[V, I]) request(ctx context.Context, obj runtime.Object, subresource string) context.Context {
	prefix := "apis"
	if s.gvk.Group == "" {
		prefix = "api"
	}
	info := &genericapirequest.RequestInfo{
		IsResourceRequest: true,
		APIPrefix:         prefix,
		APIGroup:          s.gvk.Group,
		APIVersion:        s.gvk.Version,
		Resource:          s.resource,
		Subresource:       subresource,
	}
	if m := accessor(obj); m != nil {
		info.Namespace, info.Name = m.GetNamespace(), m.GetName()
	}
	return genericapirequest.WithRequestInfo(ctx, info)
}

// toInternal converts obj, which must be a V, to a new I. The result may share memory with obj.
func (s *strategy[V, I]) toInternal(obj runtime.Object) (I, error) {
	var zero I
	if _, ok := obj.(V); !ok {
		return zero, fmt.Errorf("%s: expected %T, got %T", s.resource, zero, obj)
	}
	out := newObject[I]()
	if err := legacyscheme.Scheme.Convert(obj, out, nil); err != nil {
		return zero, fmt.Errorf("%s: converting to the internal version: %w", s.resource, err)
	}
	return out, nil
}

// fromInternal writes in back into obj. Generated conversions that succeed one way do not
// fail the other; should one, the error is logged and Validate, which converts obj again,
// rejects the write.
func (s *strategy[V, I]) fromInternal(in I, obj runtime.Object) {
	if err := legacyscheme.Scheme.Convert(in, obj, nil); err != nil {
		utilruntime.HandleError(fmt.Errorf("registry: %s: converting from the internal version: %w", s.resource, err))
	}
}

// newObject returns a new zero T, for T a pointer to a struct.
func newObject[T runtime.Object]() T {
	var zero T
	return reflect.New(reflect.TypeOf(zero).Elem()).Interface().(T)
}

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

// pathSegmentName is the name check kube-apiserver's generic registry adds to every kind.
func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}
