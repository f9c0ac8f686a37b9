package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

// syncState is one reconcile's view of a Job and its pods.
type syncState struct {
	key  string
	job  *batchv1.Job // a copy; its status is what the reconcile writes
	pods []*corev1.Pod
	// active are the pods that are neither finished nor being deleted.
	active      []*corev1.Pod
	ready       int32
	terminating int32
	// uncounted are status.uncountedTerminatedPods as read.
	uncountedSucceeded, uncountedFailed sets.Set[types.UID]
	// pendingRm are pods whose finalizer the controller removed but the cache still shows.
	pendingRm sets.Set[types.UID]
	// succeeded and failed count what status will say once every finished pod is counted.
	succeeded, failed int32
	// prevIndexes are status.completedIndexes as read; indexes adds the pods that succeeded since.
	prevIndexes, indexes indexes
	// finished is the condition the Job is to end with, once its pods are counted.
	finished *batchv1.JobCondition
	backoff  backoffRecord
}

// Reconcile brings the Job named by key one step closer to done: it creates or deletes pods,
// counts finished ones and records the outcome.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		c.backoff.forget(key)
		c.written.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !c.caughtUp(key, shared) || managedElsewhere(shared) {
		return nil // the informer's update event brings the key back
	}
	if finishedCondition(shared) != nil {
		c.backoff.forget(key)
		return nil
	}
	if m := shared.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.recorder.Event(shared, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read the expectations before listing pods, so a pod that arrives in between only
	// delays the next resize.
	satisfied := c.exp.Satisfied(key)
	pods, err := c.podsFor(ctx, job)
	if err != nil {
		return err
	}
	s := &syncState{
		key:                key,
		job:                job,
		pods:               pods,
		uncountedSucceeded: sets.New(job.Status.UncountedTerminatedPods.Succeeded...),
		uncountedFailed:    sets.New(job.Status.UncountedTerminatedPods.Failed...),
		pendingRm:          c.exp.pendingFinalizers(key),
	}
	for _, p := range pods {
		switch {
		case isActive(p):
			s.active = append(s.active, p)
			if isReady(p) {
				s.ready++
			}
		case isTerminating(p):
			s.terminating++
		}
	}
	newSucceeded, newFailed := s.newlyFinished()
	s.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(s.uncountedSucceeded.Len())
	s.failed = job.Status.Failed + int32(s.uncountedFailed.Len())
	for _, p := range newFailed {
		if matchFailurePolicy(job.Spec.PodFailurePolicy, p).count {
			s.failed++
		}
	}
	now := c.clock.Now()
	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = ptr.To(metav1.NewTime(now))
	}
	s.backoff = c.backoff.get(key).next(newSucceeded, newFailed)

	c.decideFailure(s, now)
	if indexed(job) {
		completions := int(*job.Spec.Completions)
		s.prevIndexes = parseIndexes(job.Status.CompletedIndexes, completions)
		var more []int
		for _, p := range pods {
			if ix := completionIndex(p); p.Status.Phase == corev1.PodSucceeded && ix != noIndex && ix < completions && hasTrackingFinalizer(p) {
				more = append(more, ix)
			}
		}
		s.indexes = s.prevIndexes.with(more...)
		s.succeeded = int32(len(s.indexes))
		if s.finished == nil {
			if msg, met := matchSuccessPolicy(job, s.indexes); met {
				s.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, msg, now)
			}
		}
	}

	active := int32(len(s.active))
	statusChanged := false
	var manageErr error
	if s.finished != nil {
		// The Job is ending: stop what still runs. The pods keep their finalizers until
		// they are counted.
		deleted, deletedReady, err := c.deletePods(ctx, job, s.active, false)
		if deleted != active || !satisfied {
			s.finished = nil // not every pod is known to be stopping yet
		}
		active -= deleted
		s.terminating += deleted
		s.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manage(ctx, s, now)
			managed = true
		}
		if completed(job, s.succeeded, active) {
			s.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		} else if managed {
			statusChanged = c.recordSuspension(job, now)
		}
	}

	statusChanged = statusChanged || active != job.Status.Active || !ptr.Equal(&s.ready, job.Status.Ready) ||
		!ptr.Equal(&s.terminating, job.Status.Terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(s.ready)
	job.Status.Terminating = ptr.To(s.terminating)
	if err := c.track(ctx, s, statusChanged); err != nil {
		return fmt.Errorf("track status of %s: %w", describe(job), err)
	}
	return manageErr
}

// decideFailure sets s.finished when the Job has failed: an earlier FailureTarget, a
// FailJob rule of the pod failure policy, the backoff limit or the active deadline. A Job
// already SuccessCriteriaMet keeps that verdict. It queues the Job again for its deadline.
func (c *Controller) decideFailure(s *syncState, now time.Time) {
	job := s.job
	if met := findCondition(job, batchv1.JobSuccessCriteriaMet); met != nil && met.Status == corev1.ConditionTrue {
		s.finished = met
		return
	}
	if target := findCondition(job, batchv1.JobFailureTarget); target != nil && target.Status == corev1.ConditionTrue {
		s.finished = newCondition(batchv1.JobFailed, target.Reason, target.Message, now)
		return
	}
	if job.Spec.PodFailurePolicy != nil {
		for _, p := range s.pods {
			if isFailed(p, job) {
				if msg := matchFailurePolicy(job.Spec.PodFailurePolicy, p).failJob; msg != "" {
					s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, msg, now)
					return
				}
			}
		}
	}
	switch {
	case s.failed > ptr.Deref(job.Spec.BackoffLimit, 6) || pastBackoffLimitOnFailure(job, s.pods):
		s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
	case job.Spec.ActiveDeadlineSeconds != nil && job.Status.StartTime != nil && !suspended(job):
		left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
		if left <= 0 {
			s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		} else {
			c.queue.EnqueueAfter(s.key, left)
		}
	}
}

// pastBackoffLimitOnFailure reports whether, with restartPolicy OnFailure, the running pods'
// containers have restarted backoffLimit times in all (once, for a limit of 0).
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			restarts += cs.RestartCount
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// newlyFinished returns the pods that finished and are not yet counted, nor being counted:
// they still hold the finalizer and are not in status.uncountedTerminatedPods.
func (s *syncState) newlyFinished() (succeeded, failed []*corev1.Pod) {
	for _, p := range s.pods {
		if !hasTrackingFinalizer(p) || s.pendingRm.Has(p.UID) {
			continue
		}
		if indexed(s.job) {
			if ix := completionIndex(p); ix == noIndex || ix >= int(*s.job.Spec.Completions) {
				continue
			}
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedSucceeded.Has(p.UID):
			succeeded = append(succeeded, p)
		case isFailed(p, s.job) && !s.uncountedFailed.Has(p.UID):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// completed reports whether job has succeeded: completions successes and nothing running, or,
// without completions, any success once nothing runs.
func completed(job *batchv1.Job, succeeded, active int32) bool {
	if active > 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return succeeded > 0
	}
	return succeeded >= *job.Spec.Completions
}

// recordSuspension keeps the Suspended condition in line with spec.suspend, with its events.
// Resuming restarts the active deadline's clock. It reports whether status changed.
func (c *Controller) recordSuspension(job *batchv1.Job, now time.Time) bool {
	if suspended(job) {
		if !setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
			return false
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		job.Status.StartTime = nil
		return true
	}
	if !setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
		return false
	}
	c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
	job.Status.StartTime = ptr.To(metav1.NewTime(now))
	return true
}

func suspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

func indexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

func findCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets condition t of job; a condition that does not exist is not added as
// False. It reports whether anything changed.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	want := *newCondition(t, reason, message, now)
	want.Status = status
	if c := findCondition(job, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		*c = want
		return true
	}
	if status == corev1.ConditionFalse {
		return false
	}
	job.Status.Conditions = append(job.Status.Conditions, want)
	return true
}
