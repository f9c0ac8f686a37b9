package cronjob

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

// created is when the test CronJobs were created: 10:00:30 UTC.
var created = time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)

func cronJob(schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cron"}, Annotations: map[string]string{"note": "x"}},
				Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
			},
		},
	}
}

func TestMostRecent(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name     string
		schedule string
		last     *time.Time
		deadline *int64
		now      time.Time
		want     *time.Time
		many     bool
	}{
		{"not yet due", "*/5 * * * *", nil, nil, at(10, 4), nil, false},
		{"due", "*/5 * * * *", nil, nil, at(10, 5).Add(time.Second), ptr.To(at(10, 5)), false},
		{"already run", "*/5 * * * *", ptr.To(at(10, 5)), nil, at(10, 7), nil, false},
		{"several missed: the latest", "*/5 * * * *", nil, nil, at(10, 27), ptr.To(at(10, 25)), false},
		{"hourly descriptor", "@hourly", nil, nil, at(13, 30), ptr.To(at(13, 0)), false},
		{"CRON_TZ", "CRON_TZ=Europe/Paris 0 12 * * *", nil, nil, at(11, 0).Add(time.Minute), ptr.To(at(11, 0)), false},
		{"too many missed", "* * * * *", nil, nil, at(13, 0), ptr.To(at(13, 0)), true},
		{"deadline bounds the search", "* * * * *", nil, ptr.To[int64](120), at(13, 0), ptr.To(at(13, 0)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := cronJob(tc.schedule)
			if tc.last != nil {
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*tc.last))
			}
			cj.Spec.StartingDeadlineSeconds = tc.deadline
			sched, err := parseSchedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			_, got, missed, err := mostRecent(cj, tc.now, sched, true)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
				t.Errorf("most recent = %v, want %v", got, tc.want)
			}
			if (missed > manyMissed) != tc.many {
				t.Errorf("missed %d; want more than %d: %v", missed, manyMissed, tc.many)
			}
		})
	}
	// spec.timeZone: noon in Tokyo is 03:00 UTC.
	cj := cronJob("0 12 * * *")
	cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
	cj.CreationTimestamp = metav1.NewTime(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	sched, err := parseSchedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, _, _ := mostRecent(cj, time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC), sched, false); got == nil || !got.Equal(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("time zone: most recent = %v", got)
	}
	if _, err := parseSchedule(cronJob("61 * * * *")); err == nil {
		t.Error("61 * * * * parsed")
	}
}

// fixture runs a controller with a fake clock at now over a fake clientset holding objects.
func fixture(t *testing.T, now time.Time, objects ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c := New(client, factory, rec)
	c.clock = clocktesting.NewFakePassiveClock(now)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return c, client, rec
}

// writes describes the client's writes.
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case clienttesting.CreateActionImpl:
			job := a.GetObject().(*batchv1.Job)
			out = append(out, fmt.Sprintf("create %s %s", job.Name, job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]))
		case clienttesting.UpdateActionImpl:
			cj := a.GetObject().(*batchv1.CronJob)
			var active []string
			for _, r := range cj.Status.Active {
				active = append(active, r.Name)
			}
			last := ""
			if cj.Status.LastScheduleTime != nil {
				last = cj.Status.LastScheduleTime.UTC().Format("15:04")
			}
			out = append(out, fmt.Sprintf("status active=%v last=%s", active, last))
		case clienttesting.DeleteActionImpl:
			out = append(out, "delete "+a.Name)
		}
	}
	return out
}

func activeJob(cj *batchv1.CronJob, name string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)}}}
}

func TestReconcile(t *testing.T) {
	due := time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC)
	name := fmt.Sprintf("cj-%d", due.Unix()/60)
	for _, tc := range []struct {
		name   string
		setup  func(cj *batchv1.CronJob) []runtime.Object
		now    time.Time
		want   []string
		after  time.Duration
		events []string
	}{
		{
			name: "creates the due run",
			now:  due.Add(2 * time.Second),
			want: []string{"create " + name + " 2026-03-02T10:05:00Z", "status active=[" + name + "] last=10:05"},
			// Next run at 10:10:00, looked at 100 ms after.
			after:  5*time.Minute - 2*time.Second + nextDelta,
			events: []string{"Normal SuccessfulCreate Created job " + name},
		},
		{
			name:  "nothing due",
			now:   due.Add(-time.Minute),
			after: time.Minute + nextDelta,
		},
		{
			name: "past the starting deadline",
			setup: func(cj *batchv1.CronJob) []runtime.Object {
				cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
				return nil
			},
			// The search for a due run starts at now - 10 s: the 10:05 run is skipped.
			now:   due.Add(20 * time.Second),
			after: 5*time.Minute - 20*time.Second + nextDelta,
		},
		{
			name: "forbid with an active job",
			setup: func(cj *batchv1.CronJob) []runtime.Object {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
				j := activeJob(cj, "cj-previous")
				cj.Status.Active = []corev1.ObjectReference{{Name: j.Name, Namespace: "ns", UID: j.UID}}
				return []runtime.Object{j}
			},
			now:    due.Add(time.Second),
			after:  5*time.Minute - time.Second + nextDelta,
			events: []string{"Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid"},
		},
		{
			name: "replace deletes the active job",
			setup: func(cj *batchv1.CronJob) []runtime.Object {
				cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
				j := activeJob(cj, "cj-previous")
				cj.Status.Active = []corev1.ObjectReference{{Name: j.Name, Namespace: "ns", UID: j.UID}}
				return []runtime.Object{j}
			},
			now:    due.Add(time.Second),
			want:   []string{"delete cj-previous", "create " + name + " 2026-03-02T10:05:00Z", "status active=[" + name + "] last=10:05"},
			after:  5*time.Minute - time.Second + nextDelta,
			events: []string{"Normal SuccessfulDelete Deleted job cj-previous", "Normal SuccessfulCreate Created job " + name},
		},
		{
			name: "suspended",
			setup: func(cj *batchv1.CronJob) []runtime.Object {
				cj.Spec.Suspend = ptr.To(true)
				return nil
			},
			now: due.Add(time.Second),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := cronJob("*/5 * * * *")
			objects := []runtime.Object{cj}
			if tc.setup != nil {
				objects = append(objects, tc.setup(cj)...)
			}
			c, client, rec := fixture(t, tc.now, objects...)
			err := c.Reconcile(context.Background(), "ns/cj")
			wantErr := error(nil)
			if tc.after > 0 {
				wantErr = controller.RequeueAfter(tc.after)
			}
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("reconcile = %v, want %v", err, wantErr)
			}
			if got := writes(client); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var events []string
			for len(rec.Events) > 0 {
				events = append(events, <-rec.Events)
			}
			if strings.Join(events, "\n") != strings.Join(tc.events, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(tc.events, "\n"))
			}
		})
	}
}

func TestHistoryLimits(t *testing.T) {
	cj := cronJob("0 0 1 1 *")
	cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	finishedJob := func(name string, cond batchv1.JobConditionType, startMinute int) runtime.Object {
		j := activeJob(cj, name)
		j.Status.StartTime = ptr.To(metav1.NewTime(created.Add(time.Duration(startMinute) * time.Minute)))
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = ptr.To(metav1.NewTime(created.Add(time.Duration(startMinute+1) * time.Minute)))
		}
		return j
	}
	c, client, _ := fixture(t, created.Add(time.Hour), cj,
		finishedJob("ok-1", batchv1.JobComplete, 1), finishedJob("ok-3", batchv1.JobComplete, 3), finishedJob("ok-2", batchv1.JobComplete, 2),
		finishedJob("bad-1", batchv1.JobFailed, 1), finishedJob("bad-2", batchv1.JobFailed, 2))
	if err := c.Reconcile(context.Background(), "ns/cj"); err != nil && !strings.HasPrefix(err.Error(), "requeue") {
		t.Fatal(err)
	}
	got := strings.Join(writes(client), "\n")
	want := strings.Join([]string{"delete ok-1", "delete ok-2", "delete bad-1", "status active=[] last="}, "\n")
	if got != want {
		t.Errorf("writes:\n%s\nwant:\n%s", got, want)
	}
	updated, err := client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lst := updated.Status.LastSuccessfulTime; lst == nil || !lst.Time.Equal(created.Add(4*time.Minute)) {
		t.Errorf("lastSuccessfulTime = %v, want the latest completion", lst)
	}
}
