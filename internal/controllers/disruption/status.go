package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/gantryhq/gantry/internal/controller"
)

// sync computes pdb's status and writes it if it changed. A failure other than a write
// conflict zeroes disruptionsAllowed (see failSafe).
func (c *Controller) sync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	recheck, err := c.trySync(ctx, pdb)
	switch {
	case apierrors.IsConflict(err):
		// The budget moved under us (an eviction, most likely): compute again on the new one.
		return err
	case err != nil:
		c.log.Error("sync failed, disallowing disruptions", "pdb", pdb.Namespace+"/"+pdb.Name, "err", err)
		return c.failSafe(ctx, pdb, err)
	case recheck > 0:
		return controller.RequeueAfter(recheck)
	}
	return nil
}

// trySync writes pdb's status and answers how long until its nearest disruptedPods entry
// expires (zero if none).
func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) (time.Duration, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		c.events.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return 0, fmt.Errorf("selector of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	pods, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		c.events.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return 0, fmt.Errorf("list pods of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	if len(pods) == 0 {
		c.events.Eventf(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedPods(pdb, pods)
	if err != nil {
		c.events.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed",
			"Failed to calculate the number of expected pods: %v", err)
		return 0, err
	}
	if len(unmanaged) > 0 {
		c.events.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" "+
			"field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.now()
	disrupted, recheckAt := c.disruptedPods(pdb, pods, now)
	healthy := countHealthy(pods, disrupted)
	if err := c.writeStatus(ctx, pdb, healthy, desired, expected, disrupted); err != nil {
		return 0, err
	}
	if recheckAt.IsZero() {
		return 0, nil
	}
	return recheckAt.Sub(now), nil
}

// expectedPods answers how many pods pdb expects and how many of them must stay healthy, and
// the pods without a controller when the answer needed controllers.
func (c *Controller) expectedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(pods)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("maxUnavailable of %s/%s: %w", pdb.Namespace, pdb.Name, err)
		}
		return expected, max(0, expected-int32(maxUnavailable)), unmanaged, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil, nil
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = c.expectedScale(pods)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("minAvailable of %s/%s: %w", pdb.Namespace, pdb.Name, err)
		}
		return expected, int32(minAvailable), unmanaged, nil
	}
	// Validation requires one of the two; a budget with neither protects nothing.
	return 0, 0, nil, nil
}

// disruptedPods keeps the entries of pdb's disruptedPods whose pods still exist, are not being
// deleted yet and were evicted less than DeletionTimeout ago. It answers when the nearest kept
// entry expires (zero time if none).
func (c *Controller) disruptedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Time) {
	kept := map[string]metav1.Time{}
	var recheckAt time.Time
	if pdb.Status.DisruptedPods == nil {
		return kept, recheckAt
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		evicted, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := evicted.Add(DeletionTimeout)
		if expires.Before(now) {
			c.events.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't",
				pdb.Namespace, pdb.Name)
			continue
		}
		kept[pod.Name] = evicted
		if recheckAt.IsZero() || expires.Before(recheckAt) {
			recheckAt = expires
		}
	}
	return kept, recheckAt
}

// countHealthy counts the Ready pods that are neither being deleted nor about to be (evicted,
// in disrupted).
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if _, ok := disrupted[pod.Name]; ok {
			continue
		}
		if podutil.IsPodReady(pod) {
			n++
		}
	}
	return n
}

// writeStatus sets pdb's status from the numbers, if anything changed.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32,
	disrupted map[string]metav1.Time) error {
	allowed := healthy - desired
	// While no pod is expected, allow nothing: a new budget's first pods must not be evictable
	// before this controller has counted them.
	if expected <= 0 || allowed < 0 {
		allowed = 0
	}
	st := pdb.Status
	if st.CurrentHealthy == healthy && st.DesiredHealthy == desired && st.ExpectedPods == expected &&
		st.DisruptionsAllowed == allowed && apiequality.Semantic.DeepEqual(st.DisruptedPods, disrupted) &&
		st.ObservedGeneration == pdb.Generation && pdbhelper.ConditionsAreUpToDate(pdb) {
		return nil
	}
	updated := pdb.DeepCopy()
	updated.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         updated.Status.Conditions,
	}
	pdbhelper.UpdateDisruptionAllowedCondition(updated)
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// failSafe zeroes pdb's disruptionsAllowed and sets DisruptionAllowed False with reason
// SyncFailed, so that the eviction subresource refuses evictions while the numbers are
// unknown. Like upstream it does not retry on its own: the next change to the budget or its
// pods syncs again.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	updated := pdb.DeepCopy()
	updated.Status.DisruptionsAllowed = 0
	if updated.Status.Conditions == nil {
		updated.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&updated.Status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: updated.Status.ObservedGeneration,
	})
	if apiequality.Semantic.DeepEqual(updated.Status, pdb.Status) {
		return nil
	}
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("fail safe on %s/%s after %v: %w", pdb.Namespace, pdb.Name, cause, err)
	}
	return nil
}
