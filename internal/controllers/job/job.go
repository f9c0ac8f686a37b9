package job

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/controller"
)

const workers = 5

// jobKind is what the controller references of Job pods name.
var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs the pods of every Job and records their outcome in its status.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    *controller.Controller
	orphans  *controller.Controller
	exp      *expectations
	backoff  *backoffStore
	written  sync.Map // Job key → resourceVersion (uint64) of the controller's last status write
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger
}

// New returns a controller that reads Jobs and pods from factory's informers and writes pods,
// Job status and events through client. The caller starts factory after constructing
// everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	jobInformer := factory.Batch().V1().Jobs()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:   client,
		jobs:     jobInformer.Lister(),
		pods:     podInformer.Lister(),
		synced:   []cache.InformerSynced{jobInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		backoff:  newBackoffStore(),
		recorder: recorder,
		clock:    clock.RealClock{},
		log:      slog.Default().With("controller", "job"),
	}
	c.exp = newExpectations(func() time.Time { return c.clock.Now() })
	c.queue = controller.New("job", c)
	c.orphans = controller.New("job-orphan-pods", controller.ReconcileFunc(c.reconcileOrphan))
	jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, obj any) { c.jobChanged(obj) },
		DeleteFunc: c.jobDeleted,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	errs := make(chan error, 1)
	go func() { errs <- c.orphans.Run(ctx, 1, c.synced...) }()
	err := c.queue.Run(ctx, workers, c.synced...)
	if oerr := <-errs; err == nil {
		err = oerr
	}
	return err
}

// jobChanged queues a Job, and notes that the informer has caught up with a status write.
func (c *Controller) jobChanged(obj any) {
	job := obj.(*batchv1.Job)
	key := job.Namespace + "/" + job.Name
	if w, ok := c.written.Load(key); ok {
		if rv, err := strconv.ParseUint(job.ResourceVersion, 10, 64); err == nil && rv >= w.(uint64) {
			c.written.CompareAndDelete(key, w)
		}
	}
	c.queue.EnqueueKey(key)
}

// jobDeleted queues the key (to forget it) and every pod of the Job that still holds the
// tracking finalizer: nobody else will remove it.
func (c *Controller) jobDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	c.written.Delete(job.Namespace + "/" + job.Name)
	c.queue.Enqueue(job)
	pods, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pod := range pods {
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(pod) {
			c.orphans.Enqueue(pod)
		}
	}
}

// caughtUp reports whether the Job informer shows the controller's last status write to job.
// Before it does, the cache's counters are stale and acting on them could count pods twice.
func (c *Controller) caughtUp(key string, job *batchv1.Job) bool {
	w, ok := c.written.Load(key)
	if !ok {
		return true
	}
	rv, err := strconv.ParseUint(job.ResourceVersion, 10, 64)
	return err != nil || rv >= w.(uint64)
}

// noteWrite remembers the resourceVersion of a status write to the Job key.
func (c *Controller) noteWrite(key string, job *batchv1.Job) {
	if rv, err := strconv.ParseUint(job.ResourceVersion, 10, 64); err == nil {
		c.written.Store(key, rv)
	}
}

// ownerKey returns the key of the Job that ref names in namespace, if it exists with the same
// UID.
func (c *Controller) ownerKey(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref == nil || ref.Kind != "Job" {
		return "", false
	}
	job, err := c.jobs.Jobs(namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return "", false
	}
	return namespace + "/" + job.Name, true
}

// enqueueMatching queues every Job whose selector matches the orphan pod, to adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	jobs, err := c.jobs.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, job := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			c.queue.Enqueue(job)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	ref := metav1.GetControllerOf(pod)
	key, ok := c.ownerKey(pod.Namespace, ref)
	switch {
	case ok:
		c.exp.Created(key)
		if pod.DeletionTimestamp != nil {
			c.exp.Deleted(key, string(pod.UID))
		}
		c.queue.EnqueueKey(key)
	case ref == nil:
		c.enqueueMatching(pod)
	}
	if !ok && hasTrackingFinalizer(pod) {
		c.orphans.Enqueue(pod)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == pod.ResourceVersion {
		return
	}
	oldRef, ref := metav1.GetControllerOf(old), metav1.GetControllerOf(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if key, ok := c.ownerKey(old.Namespace, oldRef); ok {
			c.queue.EnqueueKey(key)
		}
	}
	key, ok := c.ownerKey(pod.Namespace, ref)
	if ok {
		if pod.DeletionTimestamp != nil {
			c.exp.Deleted(key, string(pod.UID))
		}
		if hasTrackingFinalizer(old) && !hasTrackingFinalizer(pod) {
			c.exp.finalizerRemoved(key, pod.UID)
		}
		c.queue.EnqueueKey(key)
	} else if ref == nil && (!labels.Equals(old.Labels, pod.Labels) || oldRef != nil) {
		c.enqueueMatching(pod)
	}
	if !ok && hasTrackingFinalizer(pod) {
		c.orphans.Enqueue(pod)
	}
}

func (c *Controller) deletePod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if key, ok := c.ownerKey(pod.Namespace, metav1.GetControllerOf(pod)); ok {
		c.exp.Deleted(key, string(pod.UID))
		c.exp.finalizerRemoved(key, pod.UID)
		c.queue.EnqueueKey(key)
	}
}

// finishedCondition returns job's Complete or Failed condition if it is True.
func finishedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// managedElsewhere reports whether spec.managedBy hands job to another controller.
func managedElsewhere(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}

func jobKey(job *batchv1.Job) string { return job.Namespace + "/" + job.Name }

func describe(job *batchv1.Job) string { return fmt.Sprintf("job %s/%s", job.Namespace, job.Name) }
