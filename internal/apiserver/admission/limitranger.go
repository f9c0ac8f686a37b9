package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install" // conversions between core/v1 and the internal types
	"k8s.io/kubernetes/plugin/pkg/admission/limitranger"
)

// LimitRanger applies the LimitRanges of a namespace, as Kubernetes' LimitRanger plugin (whose
// functions it calls): a new pod's containers get the ranges' default requests and limits, and
// a new pod or a new or resized PersistentVolumeClaim outside a range's min, max or
// maxLimitRequestRatio is refused.
type LimitRanger struct {
	Objects Objects
}

var (
	_ Mutator   = (*LimitRanger)(nil)
	_ Validator = (*LimitRanger)(nil)
)

var (
	limitRangesResource = corev1.SchemeGroupVersion.WithResource("limitranges")
	pvcsResource        = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
)

// handles reports whether the write is one LimitRanges constrain. Pod updates are not: a pod's
// containers cannot change after creation.
func (l *LimitRanger) handles(a *Attributes) bool {
	if a.Subresource != "" || a.Object == nil {
		return false
	}
	if a.OldObject != nil {
		// Objects being deleted are left alone.
		if m, err := meta.Accessor(a.OldObject); err == nil && m.GetDeletionTimestamp() != nil {
			return false
		}
	}
	switch a.Resource {
	case podsResource:
		return a.Operation == Create
	case pvcsResource:
		return a.Operation == Create || a.Operation == Update
	}
	return false
}

func (l *LimitRanger) ranges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	list, err := l.Objects.List(ctx, limitRangesResource, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.LimitRange, 0, len(list))
	for _, obj := range list {
		out = append(out, obj.(*corev1.LimitRange))
	}
	return out, nil
}

// Admit sets default requests and limits on a new pod's containers.
func (l *LimitRanger) Admit(ctx context.Context, a *Attributes) error {
	if !l.handles(a) || a.Resource != podsResource {
		return nil
	}
	ranges, err := l.ranges(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	pod := a.Object.(*corev1.Pod)
	internal := &api.Pod{}
	if err := convert(pod, internal); err != nil {
		return err
	}
	for _, lr := range ranges {
		if err := limitranger.PodMutateLimitFunc(lr, internal); err != nil {
			return forbidden(a, err)
		}
	}
	out := &corev1.Pod{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return fmt.Errorf("convert pod %s back to core/v1: %w", a.Name, err)
	}
	out.TypeMeta = pod.TypeMeta
	*pod = *out
	return nil
}

// Validate refuses a pod or claim outside the namespace's ranges.
func (l *LimitRanger) Validate(ctx context.Context, a *Attributes) error {
	if !l.handles(a) {
		return nil
	}
	ranges, err := l.ranges(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	var check func(*corev1.LimitRange) error
	switch obj := a.Object.(type) {
	case *corev1.Pod:
		internal := &api.Pod{}
		if err := convert(obj, internal); err != nil {
			return err
		}
		check = func(lr *corev1.LimitRange) error { return limitranger.PodValidateLimitFunc(lr, internal) }
	case *corev1.PersistentVolumeClaim:
		internal := &api.PersistentVolumeClaim{}
		if err := convert(obj, internal); err != nil {
			return err
		}
		check = func(lr *corev1.LimitRange) error {
			return limitranger.PersistentVolumeClaimValidateLimitFunc(lr, internal)
		}
	default:
		return nil
	}
	for _, lr := range ranges {
		if err := check(lr); err != nil {
			return forbidden(a, err)
		}
	}
	return nil
}

func convert(in runtime.Object, out runtime.Object) error {
	if err := legacyscheme.Scheme.Convert(in, out, nil); err != nil {
		return fmt.Errorf("convert %T to the internal version: %w", in, err)
	}
	return nil
}
