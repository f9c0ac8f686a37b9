package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// jobSpec is a Job named name whose pods run on simulated nodes; annotations go on its pods.
func jobSpec(name string, completions, parallelism int32, annotations map[string]string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: ptr.To(completions),
			Parallelism: ptr.To(parallelism),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				},
			},
		},
	}
}

// maxRunning watches the pods of Job name and records the most that were running at once (not
// finished, not being deleted). Call the returned function to stop and read it.
func maxRunning(t *testing.T, c *cluster, ns, name string) func() int {
	t.Helper()
	w, err := c.client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		most    int
		running = map[string]bool{}
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			live := ev.Type != watch.Deleted && pod.DeletionTimestamp == nil &&
				pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
			if live {
				running[pod.Name] = true
			} else {
				delete(running, pod.Name)
			}
			most = max(most, len(running))
			mu.Unlock()
		}
	}()
	return func() int {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}

func getJob(t *testing.T, c *cluster, ns, name string) *batchv1.Job {
	t.Helper()
	job, err := c.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t && job.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// eventReasons lists the reasons of the events about the object named name.
func eventReasons(t *testing.T, c *cluster, ns, name string) []string {
	t.Helper()
	evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Reason)
	}
	return out
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestJobController(t *testing.T) {
	c := startCluster(t)
	opts := simulate.DefaultOptions()
	opts.Nodes = 2
	opts.PodStartDelay = 100 * time.Millisecond
	opts.JobDuration = time.Second
	runSimulator(t, c, opts)
	ctx := context.Background()
	const ns = "default"
	jobs := c.client.BatchV1().Jobs(ns)

	t.Run("completions and parallelism", func(t *testing.T) {
		stop := maxRunning(t, c, ns, "three")
		if _, err := jobs.Create(ctx, jobSpec("three", 3, 2, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.kubectl("wait", "--for=condition=complete", "job/three", "--timeout=60s")
		if most := stop(); most != 2 {
			t.Errorf("at most %d pods ran at once, want 2 (parallelism)", most)
		}
		job := getJob(t, c, ns, "three")
		st := job.Status
		if st.Succeeded != 3 || st.Failed != 0 || st.Active != 0 || ptr.Deref(st.Ready, -1) != 0 || ptr.Deref(st.Terminating, -1) != 0 ||
			st.StartTime == nil || st.CompletionTime == nil || jobCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			t.Errorf("status = %+v", st)
		}
		if u := st.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
			t.Errorf("uncounted pods left: %+v", u)
		}
		if cond := jobCondition(job, batchv1.JobComplete); cond.Reason != batchv1.JobReasonCompletionsReached || cond.Message != "Reached expected number of succeeded pods" {
			t.Errorf("Complete = %+v", cond)
		}
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=three"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 3 {
			t.Errorf("%d pods, want 3", len(pods.Items))
		}
		for _, p := range pods.Items {
			l := p.Labels
			if l[batchv1.ControllerUidLabel] != string(job.UID) || l["controller-uid"] != string(job.UID) || l[batchv1.JobNameLabel] != "three" ||
				!strings.HasPrefix(p.Name, "three-") || len(p.Finalizers) != 0 || p.Status.Phase != corev1.PodSucceeded {
				t.Errorf("pod %s: labels %v finalizers %v phase %s", p.Name, l, p.Finalizers, p.Status.Phase)
			}
		}
		eventually(t, "events SuccessfulCreate and Completed", func() bool {
			return hasAll(eventReasons(t, c, ns, "three"), "SuccessfulCreate", "Completed")
		})
		out := c.kubectl("get", "job", "three", "--no-headers")
		if f := strings.Fields(out); len(f) < 3 || f[0] != "three" || f[1] != "Complete" || f[2] != "3/3" {
			t.Errorf("kubectl get job:\n%s", out)
		}
	})

	t.Run("indexed", func(t *testing.T) {
		job := jobSpec("indexed", 3, 3, nil)
		job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.kubectl("wait", "--for=condition=complete", "job/indexed", "--timeout=60s")
		if st := getJob(t, c, ns, "indexed").Status; st.CompletedIndexes != "0-2" || st.Succeeded != 3 {
			t.Errorf("completedIndexes %q succeeded %d, want 0-2 and 3", st.CompletedIndexes, st.Succeeded)
		}
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=indexed"})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, p := range pods.Items {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			seen[ix] = true
			env := p.Spec.Containers[0].Env
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "indexed-"+ix || !strings.HasPrefix(p.Name, "indexed-"+ix+"-") ||
				len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("pod %s: index %q labels %v hostname %q env %+v", p.Name, ix, p.Labels, p.Spec.Hostname, env)
			}
		}
		if len(seen) != 3 || !seen["0"] || !seen["1"] || !seen["2"] {
			t.Errorf("indexes of pods: %v", seen)
		}
	})

	t.Run("backoff limit", func(t *testing.T) {
		job := jobSpec("failing", 1, 1, map[string]string{simulate.ExitCodeAnnotation: "1"})
		job.Spec.BackoffLimit = ptr.To[int32](1)
		if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Two failures, the second pod created 10 s after the first failed.
		eventually(t, "Job failed", func() bool { return jobCondition(getJob(t, c, ns, "failing"), batchv1.JobFailed) != nil })
		job = getJob(t, c, ns, "failing")
		for _, typ := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
			cond := jobCondition(job, typ)
			if cond == nil || cond.Reason != "BackoffLimitExceeded" || cond.Message != "Job has reached the specified backoff limit" {
				t.Errorf("%s = %+v", typ, cond)
			}
		}
		if st := job.Status; st.Failed != 2 || st.Succeeded != 0 || st.Active != 0 || st.CompletionTime != nil {
			t.Errorf("status = %+v", st)
		}
		eventually(t, "event BackoffLimitExceeded", func() bool {
			return hasAll(eventReasons(t, c, ns, "failing"), "BackoffLimitExceeded")
		})
		out := c.kubectl("wait", "--for=condition=failed", "job/failing", "--timeout=5s")
		if !strings.Contains(out, "condition met") {
			t.Errorf("kubectl wait: %s", out)
		}
	})

	t.Run("pod failure policy", func(t *testing.T) {
		job := jobSpec("policy", 2, 1, map[string]string{simulate.ExitCodeAnnotation: "42"})
		job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		}}
		created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "Job failed", func() bool { return jobCondition(getJob(t, c, ns, "policy"), batchv1.JobFailed) != nil })
		cond := jobCondition(getJob(t, c, ns, "policy"), batchv1.JobFailed)
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(created.UID)})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("pods: %v, %v", pods, err)
		}
		want := "Container work for pod default/" + pods.Items[0].Name + " failed with exit code 42 matching FailJob rule at index 1"
		if cond.Reason != "PodFailurePolicy" || cond.Message != want {
			t.Errorf("Failed = %+v, want message %q", cond, want)
		}
	})

	t.Run("ttl after finished", func(t *testing.T) {
		job := jobSpec("shortlived", 1, 1, nil)
		job.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
		created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "Job deleted after its TTL", func() bool {
			_, err := jobs.Get(ctx, "shortlived", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		eventually(t, "its pods deleted", func() bool {
			pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(created.UID)})
			if err != nil {
				t.Fatal(err)
			}
			return len(pods.Items) == 0
		})
	})

	t.Run("active deadline", func(t *testing.T) {
		job := jobSpec("deadline", 10, 1, nil)
		job.Spec.ActiveDeadlineSeconds = ptr.To[int64](2)
		if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Job failed", func() bool { return jobCondition(getJob(t, c, ns, "deadline"), batchv1.JobFailed) != nil })
		job = getJob(t, c, ns, "deadline")
		if cond := jobCondition(job, batchv1.JobFailed); cond.Reason != "DeadlineExceeded" || cond.Message != "Job was active longer than specified deadline" {
			t.Errorf("Failed = %+v", cond)
		}
		if job.Status.Succeeded >= 10 || job.Status.Active != 0 {
			t.Errorf("status = %+v", job.Status)
		}
		eventually(t, "pods of the Job stopped", func() bool {
			pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=deadline"})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					return false
				}
			}
			return true
		})
	})
}
