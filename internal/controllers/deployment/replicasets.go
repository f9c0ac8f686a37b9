package deployment

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantryhq/gantry/internal/controller"
)

// The annotations Kubernetes' deployment controller keeps; kubectl reads them.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"

	// revisionHistoryMaxChars bounds revision-history, as upstream's default does.
	revisionHistoryMaxChars = 2000
)

// rollout is one reconcile of one Deployment: d (a copy, replaced by what each write
// returns) and the ReplicaSets it controls.
type rollout struct {
	c   *Controller
	d   *appsv1.Deployment
	all []*appsv1.ReplicaSet
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// revision is rs's revision annotation, 0 if it has none.
func revision(rs *appsv1.ReplicaSet) int64 {
	v, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// split returns the ReplicaSet whose template is d's (the oldest such, if several) and the
// others.
func split(d *appsv1.Deployment, sets []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), sets...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].CreationTimestamp, sorted[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return sorted[i].Name < sorted[j].Name
	})
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// replicaSets returns the new ReplicaSet (created if create is set and it is missing) and the
// old ones, bringing the new one's revision and annotations up to date.
func (r *rollout) replicaSets(ctx context.Context, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	newRS, old := split(r.d, r.all)
	var maxOld int64
	for _, rs := range old {
		maxOld = max(maxOld, revision(rs))
	}
	newRevision := strconv.FormatInt(maxOld+1, 10)
	if newRS != nil {
		rs, err := r.syncNewReplicaSet(ctx, newRS, newRevision)
		return rs, old, err
	}
	if !create {
		return nil, old, nil
	}
	rs, err := r.createNewReplicaSet(ctx, old, newRevision)
	return rs, old, err
}

// syncNewReplicaSet updates an existing new ReplicaSet's revision, annotations and
// minReadySeconds, and the Deployment's revision and Progressing condition.
func (r *rollout) syncNewReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	changed := r.setNewAnnotations(cp, newRevision, true)
	if changed || cp.Spec.MinReadySeconds != r.d.Spec.MinReadySeconds {
		cp.Spec.MinReadySeconds = r.d.Spec.MinReadySeconds
		updated, err := r.c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("update replicaset %s/%s: %w", cp.Namespace, cp.Name, err)
		}
		rs = updated
		r.replace(rs)
	}
	if err := r.setRevision(ctx, rs.Annotations[revisionAnnotation]); err != nil {
		return nil, err
	}
	if hasProgressDeadline(r.d) && condition(r.d.Status, appsv1.DeploymentProgressing) == nil {
		setCondition(&r.d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, r.c.now(),
			reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", rs.Name)))
		if err := r.updateStatus(ctx); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// createNewReplicaSet creates the ReplicaSet for d's template.
func (r *rollout) createNewReplicaSet(ctx context.Context, old []*appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	d := r.d
	hash := controller.TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Labels = maps.Clone(tmpl.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	var zero int32
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl},
	}
	n := newReplicaSetReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &n
	r.setNewAnnotations(rs, newRevision, false)

	created, err := r.c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		// Our own earlier create that the informer has not shown yet, or a hash collision.
		existing, gerr := r.c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &existing.Spec.Template) {
			created, alreadyExists = existing, true
			break
		}
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := r.updateStatus(ctx); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("replicaset %s/%s exists with another template (collision count now %d): %w",
			d.Namespace, rs.Name, *d.Status.CollisionCount, err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, r.c.now(),
				reasonFailedRSCreate, fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)))
			_ = r.updateStatus(ctx) // the create error is the one to report
		}
		return nil, fmt.Errorf("create replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	if !alreadyExists && n > 0 {
		r.c.events.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	r.all = append(r.all, created)
	if err := r.setRevision(ctx, newRevision); err != nil {
		return nil, err
	}
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&r.d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, r.c.now(),
			reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", created.Name)))
		if err := r.updateStatus(ctx); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// replace swaps rs into r.all in place of the stale copy with the same name.
func (r *rollout) replace(rs *appsv1.ReplicaSet) {
	for i := range r.all {
		if r.all[i].Name == rs.Name {
			r.all[i] = rs
		}
	}
}

// setRevision records revision in the Deployment's annotations. It writes through the status
// subresource, as Kubernetes' controller does, so that the annotation does not bump the
// Deployment's generation.
func (r *rollout) setRevision(ctx context.Context, rev string) error {
	if rev == "" || r.d.Annotations[revisionAnnotation] == rev {
		return nil
	}
	d := r.d.DeepCopy()
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = rev
	updated, err := r.c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("set revision of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	r.d = updated
	return nil
}

// setNewAnnotations copies d's annotations to rs, raises rs's revision to newRevision
// (remembering the old one in revision-history) and, for a ReplicaSet about to be created,
// records the replica annotations. It reports whether rs changed.
func (r *rollout) setNewAnnotations(rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyAnnotations(r.d, rs)
	oldRevision, hadRevision := rs.Annotations[revisionAnnotation]
	oldInt, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil && oldRevision != "" {
		return changed
	}
	newInt, _ := strconv.ParseInt(newRevision, 10, 64)
	if oldInt < newInt {
		rs.Annotations[revisionAnnotation] = newRevision
		changed = true
	}
	if hadRevision && oldRevision != "" && oldInt < newInt {
		history := rs.Annotations[revisionHistoryAnnotation]
		revs := strings.Split(history, ",")
		if revs[0] == "" {
			rs.Annotations[revisionHistoryAnnotation] = oldRevision
		} else {
			total, start := len(history)+len(oldRevision)+1, 0
			for total > revisionHistoryMaxChars && start < len(revs) {
				total -= len(revs[start]) + 1
				start++
			}
			if total <= revisionHistoryMaxChars {
				rs.Annotations[revisionHistoryAnnotation] = strings.Join(append(revs[start:], oldRevision), ",")
			}
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(r.d.Spec.Replicas), replicas(r.d.Spec.Replicas)+maxSurge(r.d)) {
		changed = true
	}
	return changed
}

// copyAnnotations copies d's annotations to rs, except the ones that are per object.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range d.Annotations {
		switch k {
		case lastAppliedAnnotation, revisionAnnotation, revisionHistoryAnnotation, desiredReplicasAnnotation,
			maxReplicasAnnotation, appsv1.DeprecatedRollbackTo:
			continue
		}
		if cur, ok := rs.Annotations[k]; !ok || cur != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	return changed
}

// setReplicasAnnotations records the Deployment's size on rs; it reports whether rs changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[desiredReplicasAnnotation] == d && rs.Annotations[maxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[desiredReplicasAnnotation] = d
	rs.Annotations[maxReplicasAnnotation] = m
	return true
}

// fenceposts resolves maxSurge and maxUnavailable against replicas, upstream's way: surge
// rounds up, unavailable down, and both zero means one unavailable.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	desired := int(replicas(d.Spec.Replicas))
	quarter := intstr.FromString("25%")
	ms, mu := &quarter, &quarter
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable
		}
	}
	s, err := intstr.GetScaledValueFromIntOrPercent(ms, desired, true)
	if err != nil {
		s = 0
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(mu, desired, false)
	if err != nil {
		u = 0
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

func maxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

func maxUnavailable(d *appsv1.Deployment) int32 {
	n := replicas(d.Spec.Replicas)
	if !isRolling(d) || n == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, n)
}

func specReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += replicas(rs.Spec.Replicas)
		}
	}
	return n
}

// newReplicaSetReplicas is how many replicas the new ReplicaSet may have now.
func newReplicaSetReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicas(d.Spec.Replicas)
	if !isRolling(d) {
		return want
	}
	cur := replicas(newRS.Spec.Replicas)
	total := specReplicas(all)
	maxTotal := want + maxSurge(d)
	if total >= maxTotal {
		return cur
	}
	return cur + max(0, min(maxTotal-total, want-cur))
}

// scale sets rs's replicas to n and its replica annotations to the Deployment's size. It
// reports whether the size changed.
func (r *rollout) scale(ctx context.Context, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	sizeChanged := replicas(rs.Spec.Replicas) != n
	cp := rs.DeepCopy()
	annotationsChanged := setReplicasAnnotations(cp, replicas(r.d.Spec.Replicas), replicas(r.d.Spec.Replicas)+maxSurge(r.d))
	if !sizeChanged && !annotationsChanged {
		return false, rs, nil
	}
	cp.Spec.Replicas = &n
	updated, err := r.c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replicaset %s/%s to %d: %w", cp.Namespace, cp.Name, n, err)
	}
	if from := replicas(rs.Spec.Replicas); sizeChanged {
		op := "up"
		if n < from {
			op = "down"
		}
		r.c.events.Eventf(r.d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, cp.Name, from, n)
	}
	r.replace(updated)
	return sizeChanged, updated, nil
}
