package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 5

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller starts the Jobs of every CronJob on schedule.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	synced   []cache.InformerSynced
	queue    *controller.Controller
	recorder record.EventRecorder
	clock    clock.PassiveClock
	log      *slog.Logger
}

// New returns a controller over factory's CronJob and Job informers that creates Jobs and
// writes CronJob status and events through client. The caller starts factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	cjInformer := factory.Batch().V1().CronJobs()
	jobInformer := factory.Batch().V1().Jobs()
	c := &Controller{
		client:   client,
		cronJobs: cjInformer.Lister(),
		jobs:     jobInformer.Lister(),
		synced:   []cache.InformerSynced{cjInformer.Informer().HasSynced, jobInformer.Informer().HasSynced},
		recorder: recorder,
		clock:    clock.RealClock{},
		log:      slog.Default().With("controller", "cronjob"),
	}
	c.queue = controller.New("cronjob", c)
	cjInformer.Informer().AddEventHandler(c.queue.Handler())
	jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, obj any) { c.jobChanged(obj) },
		DeleteFunc: c.jobChanged,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, workers, c.synced...)
}

// jobChanged queues the CronJob that controls a Job.
func (c *Controller) jobChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" {
		c.queue.EnqueueKey(job.Namespace + "/" + ref.Name)
	}
}

// Reconcile brings the CronJob named by key up to date: it forgets finished Jobs, prunes
// history, starts the run that is due, and asks to be called again at the next one.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	shared, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == shared.UID {
			jobs = append(jobs, j)
		}
	}
	cj := shared.DeepCopy()
	c.pruneHistory(ctx, cj, jobs)
	after, syncErr := c.sync(ctx, cj, jobs)
	if !apiequality.Semantic.DeepEqual(shared.Status, cj.Status) {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of cronjob %s: %w", key, err)
		}
	}
	if syncErr != nil {
		return syncErr
	}
	if after > 0 {
		return controller.RequeueAfter(after)
	}
	return nil
}

// sync updates cj.Status.Active and lastSuccessfulTime from jobs, and creates the Job of the
// run that is due. It returns how long until cj should be looked at again (0: only when it
// changes).
func (c *Controller) sync(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (time.Duration, error) {
	now := c.clock.Now()
	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		listed := inActive(cj, j.UID)
		cond := finished(j)
		switch {
		case cond == "" && !listed:
			live, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return 0, fmt.Errorf("get cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
			}
			if inActive(live, j.UID) {
				cj.Status.Active = live.Status.Active // our cache was behind
				continue
			}
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case cond != "":
			if listed {
				removeActive(cj, j.UID)
				c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
			}
			if t := j.Status.CompletionTime; cond == batchv1.JobComplete && t != nil &&
				(cj.Status.LastSuccessfulTime == nil || t.After(cj.Status.LastSuccessfulTime.Time)) {
				cj.Status.LastSuccessfulTime = t
			}
		}
	}
	// A Job in the active list that is gone from the cache may only be lagging: ask the API.
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if children[ref.UID] {
			continue
		}
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
		case err != nil:
			return 0, fmt.Errorf("get job %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}

	if cj.DeletionTimestamp != nil {
		return 0, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return 0, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return 0, nil
	}
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule", "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	_, due, missed, err := mostRecent(cj, now, sched, true)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	next := untilNext(cj, now, sched)
	if due == nil {
		return next, nil
	}
	if missed > manyMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && due.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", due.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	name := jobName(cj, *due)
	if inActiveByName(cj, name) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*due)) {
		return next, nil // this run has started already
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID); err != nil {
				return 0, fmt.Errorf("replace job %s/%s: %w", ref.Namespace, ref.Name, err)
			}
		}
	}
	job, err := c.createJob(ctx, cj, *due)
	if err != nil || job == nil {
		return 0, err
	}
	ref, err := reference.GetReference(scheme.Scheme, job)
	if err != nil {
		return 0, fmt.Errorf("reference to job %s/%s: %w", job.Namespace, job.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: *due}
	return untilNext(cj, now, sched), nil
}

// createJob creates the Job of the run scheduled at t. If it exists already (created before a
// crash, say) and cj controls it, that Job is returned to be listed as active; a Job of that
// name that cj does not control, or one already listed, yields nil.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, t time.Time) (*batchv1.Job, error) {
	want, err := newJob(cj, t)
	if err != nil {
		return nil, err
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, nil
	case apierrors.IsAlreadyExists(err):
		existing, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get existing job %s/%s: %w", cj.Namespace, want.Name, err)
		}
		if !metav1.IsControlledBy(existing, cj) || inActive(cj, existing.UID) {
			return nil, nil
		}
		return existing, nil
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("create job for cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", job.Name)
	return job, nil
}

// newJob is the Job of cj's run scheduled at t: the job template, named by jobName, controlled
// by cj, annotated with the scheduled time (RFC 3339, in the CronJob's time zone).
func newJob(cj *batchv1.CronJob, t time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, fmt.Errorf("time zone of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := map[string]string{}
	for k, v := range tmpl.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = t.In(loc).Format(time.RFC3339)
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, t),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
		Spec: tmpl.Spec,
	}, nil
}

// pruneHistory deletes the oldest finished Jobs beyond successfulJobsHistoryLimit and
// failedJobsHistoryLimit.
func (c *Controller) pruneHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch finished(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	prune := func(jobs []*batchv1.Job, limit *int32) {
		if limit == nil || len(jobs) <= int(*limit) {
			return
		}
		sort.SliceStable(jobs, func(i, k int) bool { return olderStart(jobs[i], jobs[k]) })
		for _, j := range jobs[:len(jobs)-int(*limit)] {
			if err := c.deleteJob(ctx, cj, j.Name, j.UID); err != nil {
				c.log.Warn("prune job history", "cronjob", cj.Namespace+"/"+cj.Name, "err", err)
			}
		}
	}
	prune(succeeded, cj.Spec.SuccessfulJobsHistoryLimit)
	prune(failed, cj.Spec.FailedJobsHistoryLimit)
}

// olderStart orders Jobs by start time (never started first), then by name.
func olderStart(a, b *batchv1.Job) bool {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return true
	case sa != nil && sb == nil:
		return false
	case sa != nil && !sa.Equal(sb):
		return sa.Before(sb)
	}
	return a.Name < b.Name
}

// deleteJob deletes a Job of cj in the background (the garbage collector takes its pods) and
// drops it from the active list.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s/%s: %w", cj.Namespace, name, err)
	}
	removeActive(cj, uid)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return nil
}

// finished returns the type of job's True Complete or Failed condition, or "".
func finished(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

func inActive(cj *batchv1.CronJob, uid types.UID) bool {
	for _, r := range cj.Status.Active {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func inActiveByName(cj *batchv1.CronJob, name string) bool {
	for _, r := range cj.Status.Active {
		if r.Name == name && r.Namespace == cj.Namespace {
			return true
		}
	}
	return false
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	var keep []corev1.ObjectReference
	for _, r := range cj.Status.Active {
		if r.UID != uid {
			keep = append(keep, r)
		}
	}
	cj.Status.Active = keep
}
