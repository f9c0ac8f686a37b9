package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// policyPod is a pod no scheduler acts on, changed by opts.
func policyPod(ns, name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: testMeta(ns, name), Spec: testPodSpec(corev1.RestartPolicyAlways)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// wantForbidden fails unless err is a 403 Forbidden whose message is want.
func wantForbidden(t *testing.T, err error, want string) {
	t.Helper()
	var status *apierrors.StatusError
	if !errors.As(err, &status) {
		t.Fatalf("got %v, want a 403 %q", err, want)
	}
	if s := status.ErrStatus; s.Code != http.StatusForbidden || s.Reason != metav1.StatusReasonForbidden || s.Message != want {
		t.Fatalf("got %d %s %q, want 403 Forbidden %q", s.Code, s.Reason, s.Message, want)
	}
}

func TestPolicyAdmission(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	t.Run("priority classes resolve to spec.priority", func(t *testing.T) {
		createNamespace(t, c, "prio")
		out := c.kubectl("get", "priorityclasses", "--no-headers")
		for _, want := range []string{`^system-cluster-critical\s+2000000000\s+false`, `^system-node-critical\s+2000001000\s+false`} {
			if !hasLine(out, want) {
				t.Errorf("kubectl get priorityclasses lacks %s:\n%s", want, out)
			}
		}
		pods := c.client.CoreV1().Pods("prio")
		_, err := pods.Create(ctx, policyPod("prio", "unknown", func(p *corev1.Pod) { p.Spec.PriorityClassName = "nope" }), metav1.CreateOptions{})
		wantForbidden(t, err, `pods "unknown" is forbidden: no PriorityClass with name nope was found`)

		if _, err := c.client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: "batch-high"}, Value: 1000,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := pods.Create(ctx, policyPod("prio", "high", func(p *corev1.Pod) { p.Spec.PriorityClassName = "batch-high" }), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != 1000 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
			t.Errorf("priority %v, preemptionPolicy %v; want 1000, PreemptLowerPriority", p.Spec.Priority, p.Spec.PreemptionPolicy)
		}
		p, err = pods.Create(ctx, policyPod("prio", "critical", func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" }), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != 2000001000 {
			t.Errorf("system-node-critical pod priority %v", p.Spec.Priority)
		}
		_, err = pods.Create(ctx, policyPod("prio", "liar", func(p *corev1.Pod) {
			p.Spec.PriorityClassName = "batch-high"
			p.Spec.Priority = ptr.To[int32](5)
		}), metav1.CreateOptions{})
		wantForbidden(t, err, `pods "liar" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`)

		// A globalDefault class applies to pods that name none; there can be only one.
		if _, err := c.client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: "everyone"}, Value: 7, GlobalDefault: true,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = c.client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: "everyone-else"}, Value: 8, GlobalDefault: true,
		}, metav1.CreateOptions{})
		wantForbidden(t, err, `priorityclasses.scheduling.k8s.io "everyone-else" is forbidden: PriorityClass everyone is already marked as default. Only one default can exist`)
		p, err = pods.Create(ctx, policyPod("prio", "plain"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.PriorityClassName != "everyone" || p.Spec.Priority == nil || *p.Spec.Priority != 7 {
			t.Errorf("pod without a class got class %q priority %v; want everyone, 7", p.Spec.PriorityClassName, p.Spec.Priority)
		}
		// Later tests' pods must not carry it.
		if err := c.client.SchedulingV1().PriorityClasses().Delete(ctx, "everyone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("LimitRange defaults and bounds", func(t *testing.T) {
		createNamespace(t, c, "limits")
		applyYAML(t, c, `apiVersion: v1
kind: LimitRange
metadata: {name: container-limits, namespace: limits}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m}
    max: {cpu: "1"}
`)
		p, err := c.client.CoreV1().Pods("limits").Create(ctx, policyPod("limits", "defaulted"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res := p.Spec.Containers[0].Resources
		want := corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		}
		if !equalResources(res.Limits, want.Limits) || !equalResources(res.Requests, want.Requests) {
			t.Errorf("resources %v, want %v", res, want)
		}
		if got := p.Annotations["kubernetes.io/limit-ranger"]; got != "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c" {
			t.Errorf("limit-ranger annotation %q", got)
		}
		out, err := c.kubectlErr([]byte(`apiVersion: v1
kind: Pod
metadata: {name: greedy, namespace: limits}
spec:
  containers:
  - name: c
    image: busybox:1.36
    resources: {limits: {cpu: "2"}}
`), "create", "-f", "-")
		if err == nil || !strings.Contains(out, `Error from server (Forbidden): error when creating "STDIN": pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2`) {
			t.Errorf("kubectl create of a pod over the LimitRange max: %v\n%s", err, out)
		}
	})

	t.Run("ResourceQuota refuses, charges and frees", func(t *testing.T) {
		createNamespace(t, c, "quota")
		applyYAML(t, c, `apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: quota}
spec:
  hard: {pods: "2", count/deployments.apps: "1"}
`)
		quotas := c.client.CoreV1().ResourceQuotas("quota")
		used := func(name corev1.ResourceName) string {
			rq, err := quotas.Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			q, ok := rq.Status.Used[name]
			if !ok {
				return "unknown"
			}
			return q.String()
		}
		eventually(t, "quota status", func() bool { return used(corev1.ResourcePods) == "0" && used("count/deployments.apps") == "0" })

		pods := c.client.CoreV1().Pods("quota")
		for _, name := range []string{"a", "b"} {
			if _, err := pods.Create(ctx, policyPod("quota", name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := used(corev1.ResourcePods); got != "2" {
			t.Errorf("used pods after two creates: %s", got)
		}
		_, err := pods.Create(ctx, policyPod("quota", "c"), metav1.CreateOptions{})
		wantForbidden(t, err, `pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`)
		out, err := c.kubectlErr([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: quota}\nspec: {containers: [{name: c, image: busybox:1.36}]}\n"), "create", "-f", "-")
		if err == nil || !strings.Contains(out, `Error from server (Forbidden): error when creating "STDIN": pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`) {
			t.Errorf("kubectl create over quota: %v\n%s", err, out)
		}
		if out := c.kubectl("describe", "quota", "q", "-n", "quota"); !hasLine(out, `^pods\s+2\s+2$`) {
			t.Errorf("kubectl describe quota:\n%s", out)
		}

		if err := pods.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "freed pod usage", func() bool { return used(corev1.ResourcePods) == "1" })
		if _, err := pods.Create(ctx, policyPod("quota", "c"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create after a delete freed quota: %v", err)
		}

		deploys := c.client.AppsV1().Deployments("quota")
		if _, err := deploys.Create(ctx, &appsv1.Deployment{ObjectMeta: testMeta("quota", "d1"),
			Spec: appsv1.DeploymentSpec{Selector: testSelector("d"), Template: testTemplate("d", corev1.RestartPolicyAlways)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = deploys.Create(ctx, &appsv1.Deployment{ObjectMeta: testMeta("quota", "d2"),
			Spec: appsv1.DeploymentSpec{Selector: testSelector("d"), Template: testTemplate("d", corev1.RestartPolicyAlways)}}, metav1.CreateOptions{})
		wantForbidden(t, err, `deployments.apps "d2" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1`)
	})

	t.Run("compute quota needs declared resources", func(t *testing.T) {
		createNamespace(t, c, "compute")
		if _, err := c.client.CoreV1().ResourceQuotas("compute").Create(ctx, &corev1.ResourceQuota{ObjectMeta: testMeta("compute", "compute"),
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("1"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi")}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := c.client.CoreV1().Pods("compute")
		// Until the controller has counted the usage, admission cannot decide.
		eventually(t, "compute quota status", func() bool {
			rq, err := c.client.CoreV1().ResourceQuotas("compute").Get(ctx, "compute", metav1.GetOptions{})
			return err == nil && len(rq.Status.Used) == 2
		})
		_, err := pods.Create(ctx, policyPod("compute", "bare"), metav1.CreateOptions{})
		wantForbidden(t, err, `pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: c; requests.memory for: c`)
		sized := func(cpu string) func(*corev1.Pod) {
			return func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
				}
			}
		}
		if _, err := pods.Create(ctx, policyPod("compute", "small", sized("600m")), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = pods.Create(ctx, policyPod("compute", "big", sized("500m")), metav1.CreateOptions{})
		wantForbidden(t, err, `pods "big" is forbidden: exceeded quota: compute, requested: limits.cpu=500m, used: limits.cpu=600m, limited: limits.cpu=1`)
	})

	t.Run("concurrent creates never overshoot", func(t *testing.T) {
		createNamespace(t, c, "race")
		if _, err := c.client.CoreV1().ResourceQuotas("race").Create(ctx, &corev1.ResourceQuota{ObjectMeta: testMeta("race", "pods"),
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "quota status", func() bool {
			rq, err := c.client.CoreV1().ResourceQuotas("race").Get(ctx, "pods", metav1.GetOptions{})
			return err == nil && len(rq.Status.Used) == 1
		})
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		for i := range 20 {
			wg.Go(func() {
				_, err := c.client.CoreV1().Pods("race").Create(ctx, policyPod("race", fmt.Sprintf("p%d", i)), metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case apierrors.IsForbidden(err):
					refused++
				default:
					t.Errorf("create p%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if created != 5 || refused != 15 {
			t.Errorf("created %d, refused %d; want 5 and 15", created, refused)
		}
		list, err := c.client.CoreV1().Pods("race").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 5 {
			t.Errorf("%d pods stored, want 5", len(list.Items))
		}
	})
}

// applyYAML runs kubectl apply on manifest.
func applyYAML(t *testing.T, c *cluster, manifest string) {
	t.Helper()
	if out, err := c.kubectlErr([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// hasLine reports whether a line of out matches the regular expression re.
func hasLine(out, re string) bool {
	r := regexp.MustCompile(re)
	for _, line := range strings.Split(out, "\n") {
		if r.MatchString(strings.TrimRight(line, " ")) {
			return true
		}
	}
	return false
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
