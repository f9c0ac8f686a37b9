package statefulset

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kubernetes/pkg/controller/history"
)

// templatePatch is what a revision stores: a strategic merge patch that replaces
// spec.template, byte for byte what kube-controller-manager stores (JSON objects marshal
// with sorted keys), so hashes and revision names agree with upstream's.
func templatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(set.Spec.Template)
	if err != nil {
		return nil, err
	}
	var template map[string]any
	if err := json.Unmarshal(raw, &template); err != nil {
		return nil, err
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// newRevision builds the revision of set's current template, numbered revision.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(set)
	if err != nil {
		return nil, fmt.Errorf("revision of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	cr, err := history.NewControllerRevision(set, setKind, set.Spec.Template.Labels, runtime.RawExtension{Raw: patch}, revision, collisionCount)
	if err != nil {
		return nil, err
	}
	cr.Namespace = set.Namespace
	if len(set.Annotations) > 0 {
		cr.Annotations = map[string]string{}
		for k, v := range set.Annotations {
			cr.Annotations[k] = v
		}
	}
	return cr, nil
}

// applyRevision returns set with the template revision stores.
func applyRevision(set *appsv1.StatefulSet, revision *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(raw, revision.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", revision.Name, err)
	}
	var restored appsv1.StatefulSet
	if err := json.Unmarshal(patched, &restored); err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", revision.Name, err)
	}
	out := set.DeepCopy()
	out.Spec = restored.Spec
	return out, nil
}

// revisions finds set's current and update revisions among its sorted revisions, creating
// the update revision, or renumbering an older identical one (a rollback), as needed. It
// returns the collision count to record in status.
func (c *Controller) revisions(set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisions int32, err error) {
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	next := int64(1)
	if n := len(revs); n > 0 {
		next = revs[n-1].Revision + 1
	}
	update, err = newRevision(set, next, &collisions)
	if err != nil {
		return nil, nil, collisions, err
	}
	equal := history.FindEqualRevisions(revs, update)
	switch {
	case len(equal) > 0 && history.EqualRevision(revs[len(revs)-1], equal[len(equal)-1]):
		// The template has not changed since the latest revision.
		update = revs[len(revs)-1]
	case len(equal) > 0:
		// Back to an older template: it becomes the latest revision again.
		update, err = c.history.UpdateControllerRevision(equal[len(equal)-1], next)
		if err != nil {
			return nil, nil, collisions, fmt.Errorf("renumber revision %s: %w", equal[len(equal)-1].Name, err)
		}
	default:
		update, err = c.history.CreateControllerRevision(set, update, &collisions)
		if err != nil {
			return nil, nil, collisions, fmt.Errorf("create revision for statefulset %s/%s: %w", set.Namespace, set.Name, err)
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		// A new set, or its current revision is gone: start history at the update revision.
		current = update
	}
	return current, update, collisions, nil
}

// truncateHistory deletes the oldest revisions that are neither current, nor the update
// revision, nor used by a pod, beyond spec.revisionHistoryLimit.
func (c *Controller) truncateHistory(set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision, live map[string]bool) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	if limit < 0 || len(old) <= limit {
		return nil
	}
	for _, r := range old[:len(old)-limit] {
		if err := c.history.DeleteControllerRevision(r); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return nil
}
