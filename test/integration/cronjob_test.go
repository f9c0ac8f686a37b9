package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// pollUntil is eventually with a longer deadline, for what waits on a wall-clock minute.
func pollUntil(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCronJobController waits for one real minute boundary: the server's clock decides when
// "* * * * *" is due.
func TestCronJobController(t *testing.T) {
	c := startCluster(t)
	opts := simulate.DefaultOptions()
	opts.PodStartDelay = 100 * time.Millisecond
	opts.JobDuration = time.Second
	runSimulator(t, c, opts)
	ctx := context.Background()
	const ns = "default"
	jobs := c.client.BatchV1().Jobs(ns)

	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "every-minute"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "* * * * *",
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			FailedJobsHistoryLimit:     ptr.To[int32](0),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cron"}},
				Spec:       jobSpec("", 1, 1, nil).Spec,
			},
		},
	}
	cj, err := c.client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A failed Job of the CronJob is pruned at once: failedJobsHistoryLimit is 0.
	old := jobSpec("every-minute-old", 1, 1, map[string]string{simulate.ExitCodeAnnotation: "1"})
	old.Spec.BackoffLimit = ptr.To[int32](0)
	old.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}
	if _, err := jobs.Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed Job pruned", func() bool {
		_, err := jobs.Get(ctx, "every-minute-old", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	var job *batchv1.Job
	pollUntil(t, 90*time.Second, "a scheduled Job", func() bool {
		list, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: "app=cron"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			job = &list.Items[0]
		}
		return job != nil
	})
	scheduled, err := time.Parse(time.RFC3339, job.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	if err != nil {
		t.Fatalf("annotation %s: %v", batchv1.CronJobScheduledTimestampAnnotation, err)
	}
	if scheduled.Second() != 0 || job.Name != fmt.Sprintf("every-minute-%d", scheduled.Unix()/60) {
		t.Errorf("job %s scheduled at %s", job.Name, scheduled)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID {
		t.Errorf("job owners = %+v", job.OwnerReferences)
	}
	c.kubectl("wait", "--for=condition=complete", "job/"+job.Name, "--timeout=60s")

	var st batchv1.CronJobStatus
	eventually(t, "CronJob status shows the success", func() bool {
		got, err := c.client.BatchV1().CronJobs(ns).Get(ctx, "every-minute", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st = got.Status
		return st.LastSuccessfulTime != nil && len(st.Active) == 0
	})
	if st.LastScheduleTime == nil || !st.LastScheduleTime.Time.Equal(scheduled) {
		t.Errorf("lastScheduleTime = %v, want %s", st.LastScheduleTime, scheduled)
	}
	// The successful Job stays: successfulJobsHistoryLimit is 1.
	if _, err := jobs.Get(ctx, job.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("successful job: %v", err)
	}
	eventually(t, "events of the CronJob", func() bool {
		return hasAll(eventReasons(t, c, ns, "every-minute"), "SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete")
	})
	// NAME, the five fields of SCHEDULE, TIMEZONE, SUSPEND, ACTIVE, LAST SCHEDULE, AGE.
	out := c.kubectl("get", "cronjob", "every-minute", "--no-headers")
	if f := strings.Fields(out); len(f) < 9 || f[0] != "every-minute" || strings.Join(f[1:6], " ") != "* * * * *" || f[7] != "False" || f[8] != "0" {
		t.Errorf("kubectl get cronjob: %q", out)
	}
}
