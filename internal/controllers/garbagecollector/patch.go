package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// metadataPatch is a JSON merge patch of metadata.ownerReferences or metadata.finalizers. A
// merge patch replaces a list whole, and the resourceVersion makes it fail with a conflict if
// the object changed since it was read. A nil list is written as null, which removes the field.
type metadataPatch struct {
	Metadata struct {
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

// patchOwnerRefs rewrites the ownerReferences of the object ref names with edit, which may
// change the slice it is given. current is the object as just read, or nil to read it. Nothing
// is written if edit changes nothing or the object is gone (or is another object by now). It
// returns the object as patched, or nil if nothing was written.
func (c *Controller) patchOwnerRefs(ctx context.Context, res resource, ref objectRef, current *metav1.PartialObjectMetadata, edit func([]metav1.OwnerReference) []metav1.OwnerReference) (*metav1.PartialObjectMetadata, error) {
	return c.patchMetadata(ctx, res, ref, current, func(obj *metav1.PartialObjectMetadata, p *metadataPatch) bool {
		refs := edit(slices.Clone(obj.OwnerReferences))
		if ownerRefsEqual(refs, obj.OwnerReferences) {
			return false
		}
		if len(refs) == 0 {
			refs = nil
		}
		p.Metadata.OwnerReferences = &refs
		return true
	})
}

// removeFinalizer removes finalizer from the object ref names (current as for
// patchOwnerRefs). The API server deletes an object being deleted when its last finalizer goes.
func (c *Controller) removeFinalizer(ctx context.Context, res resource, ref objectRef, current *metav1.PartialObjectMetadata, finalizer string) error {
	_, err := c.patchMetadata(ctx, res, ref, current, func(obj *metav1.PartialObjectMetadata, p *metadataPatch) bool {
		if !slices.Contains(obj.Finalizers, finalizer) {
			return false
		}
		fs := slices.DeleteFunc(slices.Clone(obj.Finalizers), func(f string) bool { return f == finalizer })
		if len(fs) == 0 {
			fs = nil
		}
		p.Metadata.Finalizers = &fs
		return true
	})
	return err
}

// patchMetadata lets fill build a patch from the object (false: nothing to do) and writes
// it, reading the object again on conflict. It starts from current if that is not nil. It
// returns the patched object, or nil.
func (c *Controller) patchMetadata(ctx context.Context, res resource, ref objectRef, current *metav1.PartialObjectMetadata, fill func(*metav1.PartialObjectMetadata, *metadataPatch) bool) (*metav1.PartialObjectMetadata, error) {
	objects := c.objects(res, ref.Namespace)
	var patched *metav1.PartialObjectMetadata
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj := current
		current = nil // a retry reads afresh
		if obj == nil {
			var err error
			obj, err = objects.Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if obj.UID != ref.UID {
			return nil // another object by that name: ours is gone
		}
		var p metadataPatch
		if !fill(obj, &p) {
			return nil
		}
		p.Metadata.ResourceVersion = obj.ResourceVersion
		body, err := json.Marshal(&p)
		if err != nil {
			return err
		}
		patched, err = objects.Patch(ctx, ref.Name, types.MergePatchType, body, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("patch %s: %w", ref, err)
		}
		return err
	})
	return patched, err
}

func ownerRefsEqual(a, b []metav1.OwnerReference) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.OwnerReference) bool {
		return x.UID == y.UID && x.Name == y.Name && x.Kind == y.Kind && x.APIVersion == y.APIVersion &&
			boolEqual(x.Controller, y.Controller) && boolEqual(x.BlockOwnerDeletion, y.BlockOwnerDeletion)
	})
}

func boolEqual(a, b *bool) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
