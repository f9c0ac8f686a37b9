package garbagecollector

import (
	"context"
	"errors"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// attemptToOrphan frees the dependents of the owner with UID key, which is being deleted with
// the orphan finalizer: every reference to it is removed, then the finalizer.
func (c *Controller) attemptToOrphan(ctx context.Context, key string) error {
	uid := types.UID(key)
	n, ok := c.graph.view(uid)
	if !ok {
		return nil
	}
	var errs []error
	for _, d := range n.dependents {
		res, err := c.resources.lookup(d.ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = c.patchOwnerRefs(ctx, res, d.ref, nil, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == uid })
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res, err := c.resources.lookup(n.ref)
	if err != nil {
		return err
	}
	c.log.Info("dependents orphaned, removing finalizer", "object", n.ref, "dependents", len(n.dependents), "finalizer", metav1.FinalizerOrphanDependents)
	return c.removeFinalizer(ctx, res, n.ref, nil, metav1.FinalizerOrphanDependents)
}
