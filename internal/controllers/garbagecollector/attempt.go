package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"

	"github.com/gantryhq/gantry/internal/controller"
)

// errNotObserved asks for another look at an object that exists but that no informer has shown
// yet: until then the graph may miss it being deleted.
var errNotObserved = errors.New("object exists but has not been observed yet")

// attemptToDelete examines the object with UID key, as doc.go describes.
func (c *Controller) attemptToDelete(ctx context.Context, key string) error {
	uid := types.UID(key)
	n, ok := c.graph.view(uid)
	if !ok {
		return nil
	}
	if n.beingDeleted && !n.deletingDependents {
		// Its deletion is under way; its dependents are examined once it is gone.
		return nil
	}
	res, err := c.resources.lookup(n.ref)
	if err != nil {
		return err
	}
	if res.namespaced && n.ref.Namespace == "" {
		return controller.Terminal(fmt.Errorf("%s: a cluster-scoped object names a namespaced owner", n.ref))
	}
	latest, err := c.objects(res, n.ref.Namespace).Get(ctx, n.ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && latest.UID != uid) {
		c.schedule(c.graph.absent(uid))
		return nil
	}
	if err != nil {
		return err
	}

	if n.deletingDependents {
		return c.deleteDependents(ctx, n, res, latest)
	}
	if err := c.collect(ctx, n, res, latest); err != nil {
		return err
	}
	if n.virtual && res.watched {
		return errNotObserved
	}
	return nil
}

// collect deletes the object if none of its owners stands, and removes references to owners
// that are gone or waiting for it.
func (c *Controller) collect(ctx context.Context, n nodeView, res resource, latest *metav1.PartialObjectMetadata) error {
	if len(latest.OwnerReferences) == 0 {
		return nil
	}
	solid, dangling, waiting, err := c.classify(ctx, latest)
	if err != nil {
		return err
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// References to waiting owners go too, or those owners would wait for ever.
		drop := uidsOf(dangling, waiting)
		c.log.Info("removing references to absent or waiting owners", "object", n.ref, "owners", drop)
		_, err := c.patchOwnerRefs(ctx, res, n.ref, latest, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return slices.Contains(drop, r.UID) })
		})
		return err
	case len(waiting) > 0 && len(n.dependents) > 0:
		if slices.ContainsFunc(n.dependents, func(d dependentView) bool { return d.deletingDependents }) {
			// A dependent waits for this object while this object waits for an owner: a
			// cycle. Stop blocking the owners, as upstream does, then delete in the foreground.
			c.log.Info("unblocking owner references to break a foreground cycle", "object", n.ref)
			patched, err := c.patchOwnerRefs(ctx, res, n.ref, latest, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
				for i := range refs {
					if isBlocking(refs[i]) {
						f := false
						refs[i].BlockOwnerDeletion = &f
					}
				}
				return refs
			})
			if err != nil {
				return err
			}
			if patched != nil {
				latest = patched // the delete's preconditions are of the object as patched
			}
		}
		return c.delete(ctx, res, n.ref, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(latest.Finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(latest.Finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, res, n.ref, latest, policy)
	}
}

// classify sorts the object's ownerReferences by a live read of each owner: solid (exists),
// dangling (no object with that UID at those coordinates) or waiting (being deleted in the
// foreground).
func (c *Controller) classify(ctx context.Context, obj *metav1.PartialObjectMetadata) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, ref := range obj.OwnerReferences {
		owner, err := c.owner(ctx, ownerRefOf(ref, obj.Namespace))
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case owner == nil:
			dangling = append(dangling, ref)
		case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, nil
}

// owner reads the owner ref names; nil means there is none.
func (c *Controller) owner(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	res, err := c.resources.lookup(ref)
	if err != nil {
		return nil, err
	}
	if !res.namespaced {
		ref.Namespace = ""
	} else if ref.Namespace == "" {
		return nil, controller.Terminal(fmt.Errorf("a cluster-scoped object names a namespaced owner %s", ref))
	}
	key := ref
	key.APIVersion = res.gvr.GroupVersion().String()
	if _, ok := c.absent.Get(key); ok {
		return nil, nil
	}
	owner, err := c.objects(res, ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && owner.UID != ref.UID) {
		c.absent.Add(key, struct{}{})
		return nil, nil
	}
	return owner, err
}

// deleteDependents carries out a foreground deletion: the blocking dependents go first, then
// the owner's foregroundDeletion finalizer.
func (c *Controller) deleteDependents(ctx context.Context, n nodeView, res resource, latest *metav1.PartialObjectMetadata) error {
	var blocking []dependentView
	for _, d := range n.dependents {
		if d.blocking {
			blocking = append(blocking, d)
		}
	}
	if len(blocking) == 0 {
		c.log.Info("dependents gone, removing finalizer", "object", n.ref, "finalizer", metav1.FinalizerDeleteDependents)
		return c.removeFinalizer(ctx, res, n.ref, latest, metav1.FinalizerDeleteDependents)
	}
	for _, d := range blocking {
		if !d.deletingDependents {
			c.deleteQueue.EnqueueKey(string(d.ref.UID))
		}
	}
	return nil
}

// delete deletes the object as it was read, with policy for its own dependents.
func (c *Controller) delete(ctx context.Context, res resource, ref objectRef, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	c.log.Info("deleting", "object", ref, "propagationPolicy", policy)
	uid, rv := latest.UID, latest.ResourceVersion
	err := c.objects(res, ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	})
	if apierrors.IsNotFound(err) {
		c.schedule(c.graph.absent(ref.UID))
		return nil
	}
	return err
}

// objects is the client for res in namespace ns (ignored for cluster-scoped resources).
func (c *Controller) objects(res resource, ns string) metadata.ResourceInterface {
	if !res.namespaced {
		ns = ""
	}
	return c.client.Resource(res.gvr).Namespace(ns)
}
