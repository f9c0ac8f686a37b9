package simulate

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
		Spec: corev1.PodSpec{
			NodeName:       node,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}, {Name: "sidecar", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers:     []corev1.Container{{Name: "app", Image: "nginx:1.27"}, {Name: "log", Image: "fluentbit"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
	}
}

func jobPod(name, node string) *corev1.Pod {
	p := testPod(name, node)
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "job-uid"}}
	return p
}

func TestNextStep(t *testing.T) {
	o := DefaultOptions()
	o.PodStartDelay, o.JobDuration = 2*time.Second, 5*time.Second
	seen := podTimes{seen: t0}
	started := func(p *corev1.Pod, at time.Time) *corev1.Pod {
		return startedPod(p, metav1.NewTime(at), "198.18.0.1", "198.18.0.2")
	}
	deleting := testPod("p", "sim-0")
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	fakeJob := testPod("p", "sim-0")
	fakeJob.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Job", Name: "j"}}

	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		times podTimes
		now   time.Time
		want  step
	}{
		{"pending, just seen", testPod("p", "sim-0"), seen, t0, step{actWait, 2 * time.Second}},
		{"pending, delay not over", testPod("p", "sim-0"), seen, t0.Add(1500 * time.Millisecond), step{actWait, 500 * time.Millisecond}},
		{"pending, delay over", testPod("p", "sim-0"), seen, t0.Add(2 * time.Second), step{action: actStart}},
		{"phase unset", func() *corev1.Pod { p := testPod("p", "sim-0"); p.Status.Phase = ""; return p }(), seen, t0.Add(time.Hour), step{action: actStart}},
		{"running", started(testPod("p", "sim-0"), t0), seen, t0.Add(time.Hour), step{}},
		{"job pod running", started(jobPod("p", "sim-0"), t0), podTimes{seen: t0, started: t0.Add(2 * time.Second)}, t0.Add(3 * time.Second), step{actWait, 4 * time.Second}},
		{"job pod, start known from status only", started(jobPod("p", "sim-0"), t0), seen, t0.Add(3 * time.Second), step{actWait, 2 * time.Second}},
		{"job pod done", started(jobPod("p", "sim-0"), t0), podTimes{seen: t0, started: t0}, t0.Add(5 * time.Second), step{action: actComplete}},
		{"a Job of another group is not a Job", started(fakeJob, t0), seen, t0.Add(time.Hour), step{}},
		{"succeeded", completedPod(started(jobPod("p", "sim-0"), t0), metav1.NewTime(t0)), seen, t0.Add(time.Hour), step{}},
		{"being deleted", deleting, seen, t0, step{action: actDelete}},
		{"succeeded and being deleted", func() *corev1.Pod {
			p := completedPod(started(jobPod("p", "sim-0"), t0), metav1.NewTime(t0))
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
			return p
		}(), seen, t0, step{action: actDelete}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextStep(tc.pod, tc.times, tc.now, &o); got != tc.want {
				t.Errorf("nextStep = %v %v, want %v %v", got.action, got.after, tc.want.action, tc.want.after)
			}
		})
	}

	o.PodStartDelay = 0
	if got := nextStep(testPod("p", "sim-0"), seen, t0, &o); got.action != actStart {
		t.Errorf("with no start delay: %v, want start", got.action)
	}
}

func TestStartedPod(t *testing.T) {
	pod := testPod("p", "sim-0")
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	now := metav1.NewTime(t0)
	p := startedPod(pod, now, "198.18.0.1", "198.18.0.2")
	s := p.Status

	if s.Phase != corev1.PodRunning || s.HostIP != "198.18.0.1" || s.PodIP != "198.18.0.2" || len(s.PodIPs) != 1 || s.PodIPs[0].IP != "198.18.0.2" ||
		len(s.HostIPs) != 1 || !s.StartTime.Equal(&now) || s.QOSClass != corev1.PodQOSBestEffort || s.ObservedGeneration != 1 {
		t.Errorf("status = %+v", s)
	}
	if pod.Status.Phase != corev1.PodPending {
		t.Error("startedPod changed its argument")
	}
	for _, cs := range s.ContainerStatuses {
		if !cs.Ready || !*cs.Started || cs.State.Running == nil || cs.ContainerID == "" || cs.ImageID == "" || cs.Image == "" {
			t.Errorf("container %s: %+v", cs.Name, cs)
		}
	}
	if names := []string{s.ContainerStatuses[0].Name, s.ContainerStatuses[1].Name}; !slices.Equal(names, []string{"app", "log"}) {
		t.Errorf("container statuses %v", names)
	}
	if init := s.InitContainerStatuses; len(init) != 2 || init[0].State.Terminated == nil || init[0].State.Terminated.Reason != "Completed" ||
		init[1].State.Running == nil || !init[1].Ready {
		t.Errorf("init container statuses = %+v", init)
	}
	conds := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range s.Conditions {
		conds[c.Type] = c
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if conds[ct].Status != corev1.ConditionTrue {
			t.Errorf("condition %s = %q", ct, conds[ct].Status)
		}
	}
	if c := conds[corev1.PodScheduled]; !c.LastTransitionTime.Time.Equal(t0.Add(-time.Hour)) {
		t.Errorf("PodScheduled was rewritten: %+v", c)
	}
	if len(s.Conditions) != 5 {
		t.Errorf("conditions = %+v", s.Conditions)
	}
	// The same pod started again keeps its container IDs.
	if again := startedPod(pod, now, "198.18.0.1", "198.18.0.2"); again.Status.ContainerStatuses[0].ContainerID != s.ContainerStatuses[0].ContainerID {
		t.Error("container IDs are not stable")
	}
}

func TestCompletedPod(t *testing.T) {
	start, end := metav1.NewTime(t0), metav1.NewTime(t0.Add(5*time.Second))
	p := completedPod(startedPod(jobPod("p", "sim-0"), start, "198.18.0.1", "198.18.0.2"), end)
	s := p.Status
	if s.Phase != corev1.PodSucceeded || s.PodIP != "198.18.0.2" {
		t.Errorf("status = %+v", s)
	}
	for _, cs := range append(s.InitContainerStatuses, s.ContainerStatuses...) {
		term := cs.State.Terminated
		if cs.Ready || cs.State.Running != nil || term == nil || term.ExitCode != 0 || term.Reason != "Completed" ||
			!term.FinishedAt.Equal(&end) || !term.StartedAt.Equal(&start) || term.ContainerID != cs.ContainerID {
			t.Errorf("container %s: %+v", cs.Name, cs)
		}
	}
	want := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True",
		corev1.ContainersReady: "False", corev1.PodReady: "False",
	}
	for _, c := range s.Conditions {
		if want[c.Type] != c.Status {
			t.Errorf("condition %s = %s, want %s", c.Type, c.Status, want[c.Type])
		}
		if c.Type == corev1.PodReady && (c.Reason != "PodCompleted" || !c.LastTransitionTime.Equal(&end)) {
			t.Errorf("Ready = %+v", c)
		}
		if c.Type == corev1.PodInitialized && !c.LastTransitionTime.Equal(&start) {
			t.Errorf("Initialized moved: %+v", c)
		}
	}
}

func TestFailedPod(t *testing.T) {
	start, end := metav1.NewTime(t0), metav1.NewTime(t0.Add(5*time.Second))
	pod := jobPod("p", "sim-0")
	pod.Annotations = map[string]string{ExitCodeAnnotation: "42"}
	p := completedPod(startedPod(pod, start, "198.18.0.1", "198.18.0.2"), end)
	if p.Status.Phase != corev1.PodFailed {
		t.Errorf("phase = %s, want Failed", p.Status.Phase)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term == nil || term.ExitCode != 42 || term.Reason != "Error" {
			t.Errorf("container %s: %+v", cs.Name, cs.State)
		}
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if term := cs.State.Terminated; term == nil || term.ExitCode != 0 {
			t.Errorf("init container %s: %+v", cs.Name, cs.State)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Reason != "PodFailed") {
			t.Errorf("Ready = %+v", c)
		}
	}
	// A code that is not a non-zero integer is ignored.
	for _, v := range []string{"0", "x", ""} {
		pod.Annotations[ExitCodeAnnotation] = v
		if p := completedPod(startedPod(pod, start, "198.18.0.1", "198.18.0.2"), end); p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("annotation %q: phase = %s, want Succeeded", v, p.Status.Phase)
		}
	}
}

// TestPodLife drives one Job pod and one plain pod through the agent's writes over a fake
// clientset and checks the record of calls.
func TestPodLife(t *testing.T) {
	plain, job := testPod("web", "sim-1"), jobPod("batch", "sim-1")
	other := testPod("elsewhere", "real-node")
	a, client, clk := testAgent(t, func(o *Options) { o.PodStartDelay = time.Second }, plain, job, other)
	ctx := context.Background()
	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range []*corev1.Pod{plain, job} {
		a.podSeen(p)
	}
	client.ClearActions()

	if err := a.advancePod(ctx, get("web")); !isRequeueAfter(err, time.Second) {
		t.Fatalf("before the start delay: %v", err)
	}
	if err := a.advancePod(ctx, get("elsewhere")); err != nil {
		t.Fatalf("a pod of another node: %v", err)
	}
	clk.Step(time.Second)
	if err := a.advancePod(ctx, get("web")); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := a.advancePod(ctx, get("batch")); !isRequeueAfter(err, 5*time.Second) {
		t.Fatalf("start of a job pod: %v", err)
	}
	web, batch := get("web"), get("batch")
	if web.Status.Phase != corev1.PodRunning || batch.Status.Phase != corev1.PodRunning {
		t.Fatalf("phases %s %s", web.Status.Phase, batch.Status.Phase)
	}
	block := netip.MustParsePrefix("198.18.1.0/24") // node 1's block
	for _, p := range []*corev1.Pod{web, batch} {
		if ip := netip.MustParseAddr(p.Status.PodIP); !block.Contains(ip) || p.Status.HostIP != "198.18.1.1" {
			t.Errorf("%s: podIP %s hostIP %s", p.Name, p.Status.PodIP, p.Status.HostIP)
		}
	}
	if web.Status.PodIP == batch.Status.PodIP {
		t.Errorf("two pods share %s", web.Status.PodIP)
	}

	clk.Step(4 * time.Second)
	if err := a.advancePod(ctx, batch); !isRequeueAfter(err, time.Second) {
		t.Fatalf("job pod before its end: %v", err)
	}
	clk.Step(time.Second)
	if err := a.advancePod(ctx, batch); err != nil {
		t.Fatalf("job pod end: %v", err)
	}
	if p := get("batch"); p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("job pod phase = %s", p.Status.Phase)
	}
	if err := a.advancePod(ctx, get("web")); err != nil {
		t.Fatalf("running pod: %v", err)
	}

	// Deletion: the API marked the pod; the agent deletes it with grace period 0.
	web = get("web")
	web.DeletionTimestamp = ptr.To(metav1.NewTime(clk.Now().Add(30 * time.Second)))
	web.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if err := a.advancePod(ctx, web); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still there: %v", err)
	}

	want := []string{
		"get pods web", "get pods elsewhere", "get pods web",
		"update pods/status web",
		"get pods batch", "update pods/status batch",
		"get pods web", "get pods batch",
		"update pods/status batch",
		"get pods batch", "get pods web", "get pods web",
		"delete pods web", "get pods web",
	}
	if got := actions(client); !slices.Equal(got, want) {
		t.Errorf("actions:\n%v\nwant\n%v", got, want)
	}
	for _, act := range client.Actions() {
		if d, ok := act.(k8stesting.DeleteAction); ok {
			o := d.GetDeleteOptions()
			if o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || *o.Preconditions.UID != "uid-web" {
				t.Errorf("delete options = %+v", o)
			}
		}
	}
}

func TestPodStatusConflict(t *testing.T) {
	pod := testPod("web", "sim-0")
	a, client, _ := testAgent(t, func(o *Options) { o.PodStartDelay = 0 }, pod)
	ctx := context.Background()
	conflicts := 0
	client.PrependReactor("update", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", nil)
		}
		return false, nil, nil
	})
	stale := pod.DeepCopy()
	if err := a.advancePod(ctx, stale); err != nil {
		t.Fatal(err)
	}
	want := []string{"update pods/status web", "get pods web", "update pods/status web"}
	if got := actions(client); !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}

	// A conflict because the pod was replaced by another of the same name ends there.
	client.ClearActions()
	conflicts = 0
	replaced := pod.DeepCopy()
	replaced.UID = "old-uid"
	if err := a.advancePod(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	if got, want := actions(client), []string{"update pods/status web", "get pods web"}; !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}
}

func TestSlimPod(t *testing.T) {
	a, _, _ := testAgent(t, nil)
	ours := testPod("a", "sim-0")
	ours.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	got, _ := a.slimPod(ours)
	if p := got.(*corev1.Pod); p.ManagedFields != nil || len(p.Spec.Containers) != 2 {
		t.Errorf("our pod = %+v", p)
	}
	got, _ = a.slimPod(testPod("b", "real-node"))
	if p := got.(*corev1.Pod); p.Name != "b" || p.Spec.NodeName != "real-node" || len(p.Spec.Containers) != 0 || p.UID != "uid-b" {
		t.Errorf("other pod = %+v", p)
	}
}

func TestReadinessGates(t *testing.T) {
	o := DefaultOptions()
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pod := testPod("gated", "sim-0")
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}

	started := startedPod(pod, now, "198.18.0.1", "198.18.0.2")
	ready := started.Status.Conditions[slices.IndexFunc(started.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })]
	if ready.Status != corev1.ConditionFalse || ready.Reason != "ReadinessGatesNotReady" ||
		ready.Message != `corresponding condition of pod readiness gate "example.com/lb" does not exist.` {
		t.Errorf("started pod with an unmet gate: Ready %+v, want False with the kubelet's reason and message", ready)
	}
	if s := nextStep(started, podTimes{}, now.Time, &o); s.action != actNone {
		t.Errorf("next step with the gate still missing: %v, want none", s.action)
	}

	started.Status.Conditions = append(started.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
	if s := nextStep(started, podTimes{}, now.Time, &o); s.action != actReadiness {
		t.Fatalf("next step once the gate is True: %v, want readiness", s.action)
	}
	if got := readyStatus(withReadiness(started, now)); got != corev1.ConditionTrue {
		t.Errorf("Ready once the gate is True: %s", got)
	}
	if s := nextStep(started, podTimes{}, now.Time, &o); s.action != actNone {
		t.Errorf("next step once Ready: %v, want none", s.action)
	}
}
