package job

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

// burst caps the pods created or deleted in one reconcile, as upstream does.
const burst = 500

// completionIndexEnv is the environment variable Indexed Job pods find their index in.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// manage creates or deletes pods so that the Job runs as many as it should: none while
// suspended; else parallelism, but never more than the completions still missing. Failed
// pods are replaced only after the backoff delay. It returns the number of active pods.
func (c *Controller) manage(ctx context.Context, s *syncState, now time.Time) (int32, error) {
	job := s.job
	active := int32(len(s.active))
	if suspended(job) {
		deleted, deletedReady, err := c.deletePods(ctx, job, removalCandidates(job, s.active, len(s.active)), true)
		s.terminating += deleted
		s.ready -= deletedReady
		return active - deleted, err
	}
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	want := parallelism
	switch {
	case job.Spec.Completions == nil && s.succeeded > 0:
		want = active // one success: let the rest finish, start nothing new
	case job.Spec.Completions != nil:
		want = max(0, min(parallelism, *job.Spec.Completions-s.succeeded))
	}
	if rm := removalCandidates(job, s.active, int(max(0, active-want))); len(rm) > 0 {
		rm = rm[:min(len(rm), burst)]
		deleted, deletedReady, err := c.deletePods(ctx, job, rm, true)
		s.terminating += deleted
		s.ready -= deletedReady
		return active - deleted, err
	}
	busy := active
	if onlyReplaceFailed(job) {
		busy += s.terminating // a terminating pod is replaced only once it has failed
	}
	diff := int(want - busy)
	if diff <= 0 {
		return active, nil
	}
	if wait := s.backoff.remaining(now); wait > 0 {
		c.queue.EnqueueAfter(s.key, wait)
		return active, nil
	}
	diff = min(diff, burst)
	var toAdd []int
	if indexed(job) {
		toAdd = pendingIndexes(s, diff)
		diff = len(toAdd)
	}
	if diff == 0 {
		return active, nil
	}
	c.exp.Expect(s.key, diff, nil)
	var next atomic.Int32
	created, err := controller.SlowStart(diff, func(int) error {
		ix := noIndex
		if toAdd != nil {
			ix = toAdd[next.Add(1)-1]
		}
		return c.createPod(ctx, job, ix)
	})
	for range diff - created {
		c.exp.Created(s.key) // never made, so never observed
	}
	return active + int32(created), err
}

// pendingIndexes returns up to n indexes below completions that have neither succeeded nor an
// active pod, lowest first.
func pendingIndexes(s *syncState, n int) []int {
	busy := s.indexes
	var running []int
	for _, p := range s.active {
		running = append(running, completionIndex(p))
	}
	if onlyReplaceFailed(s.job) {
		for _, p := range s.pods {
			if isTerminating(p) {
				running = append(running, completionIndex(p))
			}
		}
	}
	busy = busy.with(running...)
	var out []int
	for ix := 0; ix < int(*s.job.Spec.Completions) && len(out) < n; ix++ {
		if !busy.has(ix) {
			out = append(out, ix)
		}
	}
	return out
}

// removalCandidates returns at least n of the active pods to delete, those furthest from done
// first. For an Indexed Job, pods with an invalid index or an index another active pod (or a
// success) already covers are always included.
func removalCandidates(job *batchv1.Job, active []*corev1.Pod, n int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if indexed(job) {
		seen := map[int]bool{}
		// Keep, for each index, the pod furthest along.
		ordered := append([]*corev1.Pod(nil), active...)
		removalOrder(ordered)
		for i := len(ordered) - 1; i >= 0; i-- {
			p := ordered[i]
			ix := completionIndex(p)
			if ix == noIndex || ix >= int(*job.Spec.Completions) || seen[ix] {
				rm = append(rm, p)
				continue
			}
			seen[ix] = true
			left = append(left, p)
		}
	} else {
		left = append(left, active...)
	}
	if len(rm) < n {
		removalOrder(left)
		rm = append(rm, left[:min(len(left), n-len(rm))]...)
	}
	return rm
}

// deletePods deletes pods, first removing their tracking finalizers when uncount is set (the
// pods were removed by the controller, not failed). It returns how many deletions were made
// and how many of those pods were ready.
func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod, uncount bool) (int32, int32, error) {
	if len(pods) == 0 {
		return 0, 0, nil
	}
	key := jobKey(job)
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.exp.Expect(key, 0, uids)
	var (
		wg             sync.WaitGroup
		deleted, ready atomic.Int32
		errMu          sync.Mutex
		firstErr       error
	)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.deleteOne(ctx, job, p, uncount)
			if err != nil {
				c.exp.Deleted(key, string(p.UID))
				errMu.Lock()
				firstErr = cmpErr(firstErr, err)
				errMu.Unlock()
				return
			}
			deleted.Add(1)
			if isReady(p) {
				ready.Add(1)
			}
		}()
	}
	wg.Wait()
	return deleted.Load(), ready.Load(), firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// deleteOne deletes one pod of job, recording the event. A pod already gone counts as deleted.
func (c *Controller) deleteOne(ctx context.Context, job *batchv1.Job, pod *corev1.Pod, uncount bool) error {
	if uncount && hasTrackingFinalizer(pod) {
		if err := c.removeFinalizer(ctx, pod); err != nil {
			return err
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s of %s: %w", pod.Namespace, pod.Name, describe(job), err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// createPod creates one pod of job, for completion index ix unless it is noIndex.
func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, ix int) error {
	pod := newPod(job, ix)
	created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod for %s: %w", describe(job), err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// newPod builds a pod from job's template, controlled by job and holding the tracking
// finalizer. A pod of an Indexed Job carries its index in an annotation and a label, in
// JOB_COMPLETION_INDEX (from the label, through the downward API) and in its hostname
// <job>-<index>.
func newPod(job *batchv1.Job, ix int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      append(withoutTrackingFinalizer(t.Finalizers), batchv1.JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, jobKind)},
		},
		Spec: t.Spec,
	}
	if ix == noIndex {
		return pod
	}
	index := strconv.Itoa(ix)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = index
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = index
	pod.Spec.Hostname = job.Name + "-" + index
	pod.GenerateName = indexedGenerateName(job.Name, index)
	for i := range pod.Spec.InitContainers {
		addIndexEnv(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		addIndexEnv(&pod.Spec.Containers[i])
	}
	return pod
}

// indexedGenerateName is "<job>-<index>-", the job name shortened if needed so that the
// generated name stays within limits.
func indexedGenerateName(jobName, index string) string {
	suffix := "-" + index + "-"
	if len(jobName)+len(suffix) > names.MaxGeneratedNameLength {
		jobName = jobName[:names.MaxGeneratedNameLength-len(suffix)]
	}
	return jobName + suffix
}

func addIndexEnv(c *corev1.Container) {
	for _, e := range c.Env {
		if e.Name == completionIndexEnv {
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
	}})
}
