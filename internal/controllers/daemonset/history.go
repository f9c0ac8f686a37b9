package daemonset

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/controller"
)

// history returns ds's current ControllerRevision, creating or renumbering it as needed, and
// its old ones.
func (c *Controller) history(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	revisions, err := c.claimRevisions(ctx, ds, sel)
	if err != nil {
		return nil, nil, err
	}
	data, err := revisionData(ds)
	if err != nil {
		return nil, nil, err
	}
	var current, old []*appsv1.ControllerRevision
	for _, cr := range revisions {
		if _, ok := cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			// Revisions written before the label existed: the name stands in for the hash.
			cr = cr.DeepCopy()
			if cr.Labels == nil {
				cr.Labels = map[string]string{}
			}
			cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = cr.Name
			if cr, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, cr, metav1.UpdateOptions{}); err != nil {
				return nil, nil, fmt.Errorf("label controllerrevision %s: %w", cr.Name, err)
			}
		}
		if bytes.Equal(cr.Data.Raw, data) {
			current = append(current, cr)
		} else {
			old = append(old, cr)
		}
	}
	next := maxRevision(old) + 1
	if len(current) == 0 {
		cur, err := c.snapshot(ctx, ds, data, next)
		return cur, old, err
	}
	cur, err := c.dedup(ctx, ds, sel, current)
	if err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		// The template returned to an old revision (kubectl rollout undo): it is the newest now.
		cur = cur.DeepCopy()
		cur.Revision = next
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return nil, nil, fmt.Errorf("renumber controllerrevision: %w", err)
		}
	}
	return cur, old, nil
}

func maxRevision(revisions []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, cr := range revisions {
		m = max(m, cr.Revision)
	}
	return m
}

// snapshot creates the ControllerRevision of ds's current template. A name taken by another
// template is a hash collision: status.collisionCount goes up and the next reconcile hashes
// anew.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, data []byte, revision int64) (*appsv1.ControllerRevision, error) {
	hash := controller.TemplateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, daemonSetKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, cr, metav1.CreateOptions{})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create controllerrevision %s: %w", cr.Name, err)
	}
	existing, getErr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, cr.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, fmt.Errorf("read controllerrevision %s: %w", cr.Name, getErr)
	}
	if bytes.Equal(existing.Data.Raw, data) {
		// Ours, not yet in the cache.
		return existing, nil
	}
	live, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, fmt.Errorf("read daemonset for collision count: %w", getErr)
	}
	if !apiequality.Semantic.DeepEqual(live.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, errors.New("stale collision count; will retry")
	}
	n := int32(0)
	if live.Status.CollisionCount != nil {
		n = *live.Status.CollisionCount
	}
	n++
	live.Status.CollisionCount = &n
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("raise collision count: %w", err)
	}
	return nil, fmt.Errorf("controllerrevision name %s collides with another template; collision count now %d", cr.Name, n)
}

// dedup keeps the highest-numbered of several revisions with the current template, moves
// the pods of the others to its hash and deletes them.
func (c *Controller) dedup(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, current []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	keep := slices.MaxFunc(current, func(a, b *appsv1.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
	if len(current) == 1 {
		return keep, nil
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return nil, err
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, appsv1.DefaultDaemonSetUniqueLabelKey, hash)
	for _, p := range pods {
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			continue
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("relabel pod %s: %w", p.Name, err)
		}
	}
	for _, cr := range current {
		if cr.Name == keep.Name {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete duplicate controllerrevision %s: %w", cr.Name, err)
		}
	}
	return keep, nil
}

// cleanupHistory deletes old revisions beyond spec.revisionHistoryLimit, oldest first,
// sparing those whose hash a pod still carries.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod, old []*appsv1.ControllerRevision) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	excess := len(old) - limit
	if excess <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	old = slices.Clone(old)
	slices.SortFunc(old, func(a, b *appsv1.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
	for _, cr := range old {
		if excess == 0 {
			break
		}
		if live[cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete controllerrevision %s: %w", cr.Name, err)
		}
		excess--
	}
	return nil
}
