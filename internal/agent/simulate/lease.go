package simulate

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

// newLease is the Lease of node n at now, owned by the Node (so that deleting the node
// deletes its Lease), as the kubelet writes it.
func newLease(o *Options, n *simNode, node *corev1.Node, now metav1.MicroTime) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease},
	}
	setLeaseHolder(o, l, n, node, now)
	return l
}

// setLeaseHolder makes l the Lease of node n renewed at now.
func setLeaseHolder(o *Options, l *coordinationv1.Lease, n *simNode, node *corev1.Node, now metav1.MicroTime) {
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(o.LeaseDuration.Seconds()))
	l.Spec.RenewTime = &now
	if node != nil && node.UID != "" {
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
		}}
	}
}

// ensureLease creates node n's Lease, or takes over the one that exists.
func (a *agent) ensureLease(ctx context.Context, n *simNode) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(a.clock.Now())
	l, err := leases.Create(ctx, newLease(&a.opts, n, n.lastNode(), now), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if l, err = leases.Get(ctx, n.name, metav1.GetOptions{}); err == nil {
			setLeaseHolder(&a.opts, l, n, n.lastNode(), now)
			l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("lease of node %s: %w", n.name, err)
	}
	n.setLease(l)
	return nil
}

// renewLease is the reconciler of leases: it renews node key's Lease and comes back after
// LeaseRenewInterval.
//
// A renewal is one update of the last copy the API returned with only renewTime changed:
// no read first. A conflict (someone else wrote the Lease) reads it again and takes it over;
// a missing Lease is created again.
func (a *agent) renewLease(ctx context.Context, key string) error {
	n := a.nodes[key]
	if n == nil || n.isGone() {
		return nil
	}
	err := a.writeLease(ctx, n, false)
	if ctx.Err() != nil {
		return nil // stopping
	}
	if err != nil {
		a.leaseFailures.record(a.clock.Now(), n.name, err)
		return controller.RequeueAfter(retryAfter(a.opts.LeaseRenewInterval))
	}
	return controller.RequeueAfter(a.opts.LeaseRenewInterval)
}

// writeLease renews node n's Lease from its last copy: renewTime only, or, with takeOver
// (a Lease found at registration), all that the holder sets.
func (a *agent) writeLease(ctx context.Context, n *simNode, takeOver bool) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	cur := n.lastLease()
	if cur == nil {
		return a.ensureLease(ctx, n)
	}
	upd := cur.DeepCopy()
	now := metav1.NewMicroTime(a.clock.Now())
	if takeOver {
		setLeaseHolder(&a.opts, upd, n, n.lastNode(), now)
	}
	upd.Spec.RenewTime = &now
	out, err := leases.Update(ctx, upd, metav1.UpdateOptions{})
	switch {
	case err == nil:
		n.setLease(out)
		return nil
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		n.setLease(nil)
		return a.ensureLease(ctx, n)
	}
	return err
}
