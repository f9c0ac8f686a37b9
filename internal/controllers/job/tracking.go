package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// maxUncounted bounds status.uncountedTerminatedPods, so that status stays small and one big
// Job does not starve the others.
const maxUncounted = 500

// track counts finished pods exactly once and writes status:
//
//  1. finished pods that still hold the tracking finalizer are added to
//     status.uncountedTerminatedPods (Indexed Jobs record succeeded indexes in
//     completedIndexes instead), along with an interim FailureTarget or SuccessCriteriaMet
//     condition, and status is written;
//  2. their finalizers are removed;
//  3. the pods whose finalizer is gone leave the uncounted lists for the succeeded and failed
//     counters;
//  4. once nothing is uncounted and nothing terminating, the Complete or Failed condition is
//     added, and status is written again.
//
// A crash between any two steps leaves a status from which the next reconcile carries on
// without losing or double-counting a pod.
func (c *Controller) track(ctx context.Context, s *syncState, needsFlush bool) error {
	job := s.job
	isIndexed := indexed(job)
	if isIndexed {
		sort.SliceStable(s.pods, func(i, j int) bool { return completionIndex(s.pods[i]) < completionIndex(s.pods[j]) })
	}
	withFinalizer := sets.New[types.UID]()
	for _, p := range s.pods {
		if hasTrackingFinalizer(p) && !s.pendingRm.Has(p.UID) {
			withFinalizer.Insert(p.UID)
		}
	}
	if countRemoved(&job.Status, withFinalizer) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var toRemove []*corev1.Pod
	var newIndexes []int
	full := false
	for _, p := range s.pods {
		if !withFinalizer.Has(p.UID) {
			continue // counted in an earlier reconcile
		}
		podFailed := isFailed(p, job)
		if !c.canRemoveFinalizer(s, p, podFailed) {
			continue
		}
		toRemove = append(toRemove, p)
		ix := completionIndex(p)
		validIndex := !isIndexed || (ix != noIndex && ix < int(*job.Spec.Completions))
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedFailed.Has(p.UID):
			if isIndexed {
				if validIndex && !s.prevIndexes.has(ix) {
					newIndexes = append(newIndexes, ix)
					needsFlush = true
				}
			} else if !s.uncountedSucceeded.Has(p.UID) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case podFailed || (s.finished != nil && s.finished.Type != batchv1.JobSuccessCriteriaMet):
			// Once the Job has failed, every pod that did not succeed counts as failed.
			if !s.uncountedFailed.Has(p.UID) && validIndex && matchFailurePolicy(job.Spec.PodFailurePolicy, p).count {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncounted {
			full = true
			break
		}
	}
	if isIndexed {
		s.indexes = s.indexes.with(newIndexes...)
		if str := s.indexes.String(); str != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = str
			needsFlush = true
		}
		job.Status.Succeeded = int32(len(s.indexes))
	}
	// The interim condition is written before any finalizer goes, so the verdict survives.
	if f := s.finished; f != nil {
		switch {
		case f.Type == batchv1.JobFailureTarget:
			job.Status.Conditions = append(job.Status.Conditions, *f)
			needsFlush = true
			s.finished = newCondition(batchv1.JobFailed, f.Reason, f.Message, c.clock.Now())
		case f.Type == batchv1.JobSuccessCriteriaMet:
			if findCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
				job.Status.Conditions = append(job.Status.Conditions, *f)
				needsFlush = true
			}
			s.finished = newCondition(batchv1.JobComplete, f.Reason, f.Message, c.clock.Now())
		}
	}

	if needsFlush {
		if err := c.writeStatus(ctx, s); err != nil {
			return fmt.Errorf("add uncounted pods: %w", err)
		}
		c.backoff.set(s.key, s.backoff)
		needsFlush = false
	}
	removed, rmErr := c.removeFinalizers(ctx, s.key, toRemove)
	withFinalizer.Delete(removed...)
	if countRemoved(&job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil {
		if needsFlush {
			if err := c.writeStatus(ctx, s); err != nil {
				return errors.Join(rmErr, fmt.Errorf("count pods: %w", err))
			}
		}
		return rmErr
	}
	done := !full && c.finish(s)
	if !needsFlush && !done {
		return nil
	}
	if err := c.writeStatus(ctx, s); err != nil {
		return fmt.Errorf("count pods: %w", err)
	}
	if done {
		c.recordFinished(s)
	}
	return nil
}

// canRemoveFinalizer reports whether p may be counted and let go: it succeeded, it failed, or
// the Job is ending or being deleted.
func (c *Controller) canRemoveFinalizer(s *syncState, p *corev1.Pod, failed bool) bool {
	return s.job.DeletionTimestamp != nil || s.finished != nil || p.Status.Phase == corev1.PodSucceeded || failed
}

// countRemoved moves the uncounted UIDs that no longer hold a finalizer into the succeeded and
// failed counters. It reports whether status changed.
func countRemoved(st *batchv1.JobStatus, withFinalizer sets.Set[types.UID]) bool {
	u := st.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(uid) {
				out = append(out, uid)
			}
		}
		return out
	}
	succeeded, failed := keep(u.Succeeded), keep(u.Failed)
	if len(succeeded) == len(u.Succeeded) && len(failed) == len(u.Failed) {
		return false
	}
	st.Succeeded += int32(len(u.Succeeded) - len(succeeded))
	st.Failed += int32(len(u.Failed) - len(failed))
	u.Succeeded, u.Failed = succeeded, failed
	return true
}

// removeFinalizers removes the tracking finalizer from pods in parallel and returns the UIDs
// of those that no longer hold it.
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]types.UID, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		removed []types.UID
		errs    []error
	)
	for _, p := range pods {
		c.exp.expectFinalizerRemoved(key, p.UID)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.removeFinalizer(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.exp.finalizerRemoved(key, p.UID) // no update will come
				errs = append(errs, err)
				return
			}
			removed = append(removed, p.UID)
		}()
	}
	wg.Wait()
	return removed, errors.Join(errs...)
}

// finish adds the final Complete or Failed condition once every pod is counted and none is
// still terminating. It reports whether it did.
func (c *Controller) finish(s *syncState) bool {
	if s.finished == nil {
		return false
	}
	u := s.job.Status.UncountedTerminatedPods
	if len(u.Succeeded)+len(u.Failed) > 0 || s.terminating > 0 {
		return false
	}
	f := s.finished
	setCondition(s.job, f.Type, corev1.ConditionTrue, f.Reason, f.Message, c.clock.Now())
	if f.Type == batchv1.JobComplete {
		s.job.Status.CompletionTime = &findCondition(s.job, batchv1.JobComplete).LastTransitionTime
	}
	return true
}

// recordFinished records the events of a Job that just finished.
func (c *Controller) recordFinished(s *syncState) {
	job, f := s.job, s.finished
	if f.Type != batchv1.JobComplete {
		c.recorder.Event(job, corev1.EventTypeWarning, f.Reason, f.Message)
		return
	}
	if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
		c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
	}
	c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
}

// writeStatus writes s.job's status.
func (c *Controller) writeStatus(ctx context.Context, s *syncState) error {
	updated, err := c.client.BatchV1().Jobs(s.job.Namespace).UpdateStatus(ctx, s.job, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of %s: %w", describe(s.job), err)
	}
	c.noteWrite(s.key, updated)
	// Keep working on our copy (the server stores status as sent); a further write needs the
	// new resourceVersion.
	s.job.ResourceVersion = updated.ResourceVersion
	return nil
}
