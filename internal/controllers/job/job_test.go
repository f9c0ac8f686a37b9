package job

import (
	"context"
	"fmt"
	"sync/atomic"
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
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testJob(completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "ns", UID: "job-uid", ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To[int32](6),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "work"}},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(epoch))},
	}
}

// jobPod is a pod of job in phase, holding the tracking finalizer; exit is its container's
// exit code when it has failed.
func jobPod(job *batchv1.Job, name string, phase corev1.PodPhase, exit int32) *corev1.Pod {
	p := newPod(job, noIndex)
	p.Name, p.UID = name, types.UID("uid-"+name)
	p.Spec.NodeName = "n1"
	p.Status.Phase = phase
	if phase == corev1.PodFailed || phase == corev1.PodSucceeded {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exit, FinishedAt: metav1.NewTime(epoch.Add(time.Minute))}}}}
	}
	return p
}

// fixture runs a controller over a fake clientset holding objects, at epoch + 1h.
func fixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objects...)
	var generated atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, generated.Add(1))
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c := New(client, factory, rec)
	c.clock = clocktesting.NewFakeClock(epoch.Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return c, client, rec
}

func reconcile(t *testing.T, c *Controller, client *fake.Clientset) *batchv1.Job {
	t.Helper()
	if err := c.Reconcile(context.Background(), "ns/work"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	job, err := client.BatchV1().Jobs("ns").Get(context.Background(), "work", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func createdPods(client *fake.Clientset) []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			out = append(out, a.(clienttesting.CreateAction).GetObject().(*corev1.Pod))
		}
	}
	return out
}

func patchedPods(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

func TestCompletionsAndParallelism(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		completions, parallel  int32
		succeeded, running     int
		wantCreate, wantActive int
	}{
		{"starts parallelism pods", 5, 2, 0, 0, 2, 2},
		{"never more than the completions left", 3, 3, 2, 0, 1, 1},
		{"tops up", 5, 3, 1, 2, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := testJob(tc.completions, tc.parallel)
			objects := []runtime.Object{job}
			for i := range tc.succeeded {
				p := jobPod(job, fmt.Sprintf("done-%d", i), corev1.PodSucceeded, 0)
				p.Finalizers = nil // counted already
				objects = append(objects, p)
			}
			job.Status.Succeeded = int32(tc.succeeded)
			for i := range tc.running {
				objects = append(objects, jobPod(job, fmt.Sprintf("run-%d", i), corev1.PodRunning, 0))
			}
			c, client, _ := fixture(t, objects...)
			got := reconcile(t, c, client)
			pods := createdPods(client)
			if len(pods) != tc.wantCreate || int(got.Status.Active) != tc.wantActive {
				t.Fatalf("created %d pods, active %d; want %d and %d", len(pods), got.Status.Active, tc.wantCreate, tc.wantActive)
			}
			for _, p := range pods {
				ref := metav1.GetControllerOf(p)
				if ref == nil || ref.UID != job.UID || !hasTrackingFinalizer(p) || p.GenerateName != "work-" || p.Labels[batchv1.JobNameLabel] != "work" {
					t.Errorf("pod %s: owner %v finalizers %v generateName %q labels %v", p.Name, ref, p.Finalizers, p.GenerateName, p.Labels)
				}
			}
		})
	}
}

func TestCountsFinishedPodsAndCompletes(t *testing.T) {
	job := testJob(2, 2)
	c, client, rec := fixture(t, job, jobPod(job, "a", corev1.PodSucceeded, 0), jobPod(job, "b", corev1.PodSucceeded, 0))
	got := reconcile(t, c, client)
	if st := got.Status; st.Succeeded != 2 || st.Active != 0 || len(st.UncountedTerminatedPods.Succeeded) != 0 || st.CompletionTime == nil {
		t.Errorf("status = %+v", st)
	}
	if findCondition(got, batchv1.JobSuccessCriteriaMet) == nil || findCondition(got, batchv1.JobComplete) == nil {
		t.Errorf("conditions = %+v", got.Status.Conditions)
	}
	if n := patchedPods(client); n != 2 {
		t.Errorf("%d finalizers removed, want 2", n)
	}
	if e := <-rec.Events; e != "Normal Completed Job completed" {
		t.Errorf("event %q", e)
	}
}

func TestBackoffLimit(t *testing.T) {
	job := testJob(1, 1)
	job.Spec.BackoffLimit = ptr.To[int32](1)
	c, client, rec := fixture(t, job, jobPod(job, "a", corev1.PodFailed, 1), jobPod(job, "b", corev1.PodFailed, 1))
	got := reconcile(t, c, client)
	for _, typ := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		cond := findCondition(got, typ)
		if cond == nil || cond.Reason != "BackoffLimitExceeded" || cond.Message != "Job has reached the specified backoff limit" {
			t.Errorf("%s = %+v", typ, cond)
		}
	}
	if got.Status.Failed != 2 || len(createdPods(client)) != 0 {
		t.Errorf("failed %d, created %d pods", got.Status.Failed, len(createdPods(client)))
	}
	if e := <-rec.Events; e != "Warning BackoffLimitExceeded Job has reached the specified backoff limit" {
		t.Errorf("event %q", e)
	}
}

func TestBackoffDelaysReplacement(t *testing.T) {
	job := testJob(1, 1)
	c, client, _ := fixture(t, job, jobPod(job, "a", corev1.PodFailed, 1))
	c.clock = clocktesting.NewFakeClock(epoch.Add(time.Minute + 4*time.Second)) // 4 s after the failure
	got := reconcile(t, c, client)
	if got.Status.Failed != 1 || len(createdPods(client)) != 0 {
		t.Errorf("failed %d, created %d pods; want 1 and none before 10 s", got.Status.Failed, len(createdPods(client)))
	}
	if r := (backoffRecord{failuresAfterLastSuccess: 3, lastFailure: epoch}).remaining(epoch.Add(5 * time.Second)); r != 35*time.Second {
		t.Errorf("third failure: wait %s, want 35s", r)
	}
	if r := (backoffRecord{failuresAfterLastSuccess: 20, lastFailure: epoch}).remaining(epoch); r != 6*time.Minute {
		t.Errorf("capped wait %s, want 6m", r)
	}
}

func TestPodFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{42}}},
	}}
	t.Run("FailJob", func(t *testing.T) {
		job := testJob(1, 1)
		job.Spec.PodFailurePolicy = policy
		c, client, _ := fixture(t, job, jobPod(job, "a", corev1.PodFailed, 42))
		got := reconcile(t, c, client)
		cond := findCondition(got, batchv1.JobFailed)
		want := "Container c for pod ns/a failed with exit code 42 matching FailJob rule at index 1"
		if cond == nil || cond.Reason != "PodFailurePolicy" || cond.Message != want || got.Status.Failed != 1 {
			t.Errorf("Failed = %+v, failed %d", cond, got.Status.Failed)
		}
	})
	t.Run("Ignore", func(t *testing.T) {
		job := testJob(1, 1)
		job.Spec.PodFailurePolicy = policy
		job.Spec.BackoffLimit = ptr.To[int32](0)
		p := jobPod(job, "a", corev1.PodFailed, 42)
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
		c, client, _ := fixture(t, job, p)
		got := reconcile(t, c, client)
		if got.Status.Failed != 0 || findCondition(got, batchv1.JobFailed) != nil || patchedPods(client) != 1 {
			t.Errorf("failed %d, conditions %+v, finalizers removed %d", got.Status.Failed, got.Status.Conditions, patchedPods(client))
		}
	})
	t.Run("Count", func(t *testing.T) {
		job := testJob(1, 1)
		job.Spec.PodFailurePolicy = policy
		job.Spec.BackoffLimit = ptr.To[int32](0)
		c, client, _ := fixture(t, job, jobPod(job, "a", corev1.PodFailed, 3))
		got := reconcile(t, c, client)
		if cond := findCondition(got, batchv1.JobFailed); cond == nil || cond.Reason != "BackoffLimitExceeded" || got.Status.Failed != 1 {
			t.Errorf("Failed = %+v, failed %d", cond, got.Status.Failed)
		}
	})
}

func TestIndexed(t *testing.T) {
	job := testJob(4, 2)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	done := jobPod(job, "done", corev1.PodSucceeded, 0)
	done.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}
	c, client, _ := fixture(t, job, done)
	got := reconcile(t, c, client)
	if got.Status.CompletedIndexes != "1" || got.Status.Succeeded != 1 {
		t.Errorf("completedIndexes %q succeeded %d", got.Status.CompletedIndexes, got.Status.Succeeded)
	}
	var created []string
	for _, p := range createdPods(client) {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		created = append(created, ix)
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "work-"+ix || p.GenerateName != "work-"+ix+"-" ||
			p.Spec.Containers[0].Env[0].Name != "JOB_COMPLETION_INDEX" {
			t.Errorf("pod %+v", p.ObjectMeta)
		}
	}
	if fmt.Sprint(created) != "[0 2]" && fmt.Sprint(created) != "[2 0]" {
		t.Errorf("created indexes %v, want 0 and 2", created)
	}
	for _, tc := range []struct {
		in   indexes
		want string
	}{{indexes{0, 1, 2}, "0-2"}, {indexes{0, 1}, "0,1"}, {indexes{0, 1, 2, 4, 5, 7}, "0-2,4,5,7"}, {nil, ""}} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%v = %q, want %q", []int(tc.in), got, tc.want)
		}
		if back := parseIndexes(tc.want, 10).String(); back != tc.want {
			t.Errorf("parse %q = %q", tc.want, back)
		}
	}
}

func TestSuspend(t *testing.T) {
	job := testJob(2, 2)
	job.Spec.Suspend = ptr.To(true)
	c, client, rec := fixture(t, job, jobPod(job, "a", corev1.PodRunning, 0))
	got := reconcile(t, c, client)
	cond := findCondition(got, batchv1.JobSuspended)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != "JobSuspended" || got.Status.Active != 0 || got.Status.StartTime != nil {
		t.Errorf("status = %+v", got.Status)
	}
	if len(createdPods(client)) != 0 || patchedPods(client) != 1 {
		t.Errorf("created %d, finalizers removed %d", len(createdPods(client)), patchedPods(client))
	}
	events := []string{<-rec.Events, <-rec.Events}
	if fmt.Sprint(events) != "[Normal SuccessfulDelete Deleted pod: a Normal Suspended Job suspended]" {
		t.Errorf("events %q", events)
	}
}
