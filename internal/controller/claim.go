package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Claim returns the objects of all that owner controls, after adopting the orphans match
// accepts and releasing the owned objects it no longer accepts, as kube-controller-manager's
// ControllerRefManager does. An owner being deleted neither adopts nor releases. Before the
// first adoption, getLive reads owner from the API: only an owner that is really there with
// the same UID, and not being deleted, takes orphans (a lagging cache must not make it adopt
// for a dead owner). setOwner writes one adoption (adopt) or release.
func Claim[T metav1.Object](ctx context.Context, owner metav1.Object, all []T, match func(T) bool,
	getLive func(context.Context) (metav1.Object, error), setOwner func(ctx context.Context, obj T, adopt bool) error) ([]T, error) {
	var owned []T
	deleting := owner.GetDeletionTimestamp() != nil
	checked := false
	for _, obj := range all {
		ref := metav1.GetControllerOf(obj)
		matches := match(obj)
		switch {
		case ref != nil && ref.UID == owner.GetUID() && matches:
			owned = append(owned, obj)
		case ref != nil && ref.UID == owner.GetUID() && !deleting:
			if err := setOwner(ctx, obj, false); err != nil {
				return nil, err
			}
		case ref == nil && matches && !deleting && obj.GetDeletionTimestamp() == nil:
			if !checked {
				live, err := getLive(ctx)
				if apierrors.IsNotFound(err) {
					return owned, nil
				}
				if err != nil {
					return nil, fmt.Errorf("recheck %s/%s before adopting: %w", owner.GetNamespace(), owner.GetName(), err)
				}
				if live.GetUID() != owner.GetUID() || live.GetDeletionTimestamp() != nil {
					return owned, nil
				}
				checked = true
			}
			if err := setOwner(ctx, obj, true); err != nil {
				return nil, err
			}
			owned = append(owned, obj)
		}
	}
	return owned, nil
}
