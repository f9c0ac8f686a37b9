package ttlafterfinished

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	utilptr "k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func finishedJob(name string, ttl *int32, at time.Time) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "7"},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: ttl},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
		}},
	}
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name       string
		job        *batchv1.Job
		wantDelete bool
		wantAfter  time.Duration
	}{
		{"expired", finishedJob("a", utilptr.To[int32](10), epoch.Add(-11*time.Second)), true, 0},
		{"ttl 0 deletes at once", finishedJob("b", utilptr.To[int32](0), epoch), true, 0},
		{"not yet", finishedJob("c", utilptr.To[int32](100), epoch.Add(-40*time.Second)), false, 60 * time.Second},
		{"no ttl", finishedJob("d", nil, epoch.Add(-time.Hour)), false, 0},
		{"not finished", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Spec: batchv1.JobSpec{TTLSecondsAfterFinished: utilptr.To[int32](0)}}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.job)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory)
			c.clock = clocktesting.NewFakePassiveClock(epoch)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			cache.WaitForCacheSync(ctx.Done(), c.synced)
			client.ClearActions()

			err := c.Reconcile(ctx, "ns/"+tc.job.Name)
			var deleted *clienttesting.DeleteActionImpl
			for _, a := range client.Actions() {
				if d, ok := a.(clienttesting.DeleteActionImpl); ok {
					deleted = &d
				}
			}
			if tc.wantDelete {
				if err != nil || deleted == nil {
					t.Fatalf("err %v, delete %v; want a delete", err, deleted)
				}
				o := deleted.DeleteOptions
				if *o.PropagationPolicy != metav1.DeletePropagationBackground || *o.Preconditions.ResourceVersion != "7" {
					t.Errorf("delete options = %+v", o)
				}
				return
			}
			if deleted != nil {
				t.Errorf("deleted %s", deleted.Name)
			}
			want := error(nil)
			if tc.wantAfter > 0 {
				want = controller.RequeueAfter(tc.wantAfter)
			}
			if fmt.Sprint(err) != fmt.Sprint(want) {
				t.Errorf("reconcile = %v, want %v", err, want)
			}
		})
	}
}
