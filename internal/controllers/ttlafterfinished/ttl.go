// Package ttlafterfinished deletes finished Jobs once spec.ttlSecondsAfterFinished has passed,
// as kube-controller-manager's ttl-after-finished controller does.
//
// A Job is finished when its Complete or Failed condition is True; it expires
// ttlSecondsAfterFinished after that condition's lastTransitionTime. Until then its key is
// queued again for the moment it expires. An expired Job is read again from the API (the
// cache may be stale, and the TTL may have been changed) and deleted with background
// propagation, preconditioned on the resourceVersion it was judged on; the garbage collector
// then deletes its pods.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/controller"
)

// Controller deletes expired finished Jobs.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	synced cache.InformerSynced
	queue  *controller.Controller
	clock  clock.PassiveClock
}

// New returns a controller over factory's Job informer. The caller starts factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	inf := factory.Batch().V1().Jobs()
	c := &Controller{client: client, jobs: inf.Lister(), synced: inf.Informer().HasSynced, clock: clock.RealClock{}}
	c.queue = controller.New("ttlafterfinished", c)
	inf.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			job, ok := obj.(*batchv1.Job)
			return ok && job.DeletionTimestamp == nil && job.Spec.TTLSecondsAfterFinished != nil && finishTime(job) != nil
		},
		Handler: c.queue.Handler(),
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, 2, c.synced)
}

// Reconcile deletes the Job named by key if it has expired, or looks again when it will.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, expired := c.expiry(job); !expired {
		if left > 0 {
			return controller.RequeueAfter(left)
		}
		return nil
	}
	// The cache may be stale: judge the Job as it is now.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if left, expired := c.expiry(fresh); !expired {
		if left > 0 {
			return controller.RequeueAfter(left)
		}
		return nil
	}
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	return nil
}

// expiry reports whether job, finished with a TTL and not being deleted, has expired, and if
// not, how long until it does (0 for a Job without a TTL or not finished).
func (c *Controller) expiry(job *batchv1.Job) (time.Duration, bool) {
	finished := finishTime(job)
	if job.DeletionTimestamp != nil || job.Spec.TTLSecondsAfterFinished == nil || finished == nil {
		return 0, false
	}
	expireAt := finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	left := expireAt.Sub(c.clock.Now())
	return left, left <= 0
}

// finishTime is when job's Complete or Failed condition became True, or nil.
func finishTime(job *batchv1.Job) *time.Time {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			t := c.LastTransitionTime.Time
			return &t
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
