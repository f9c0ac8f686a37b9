package admission

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func resourceQuota(name string, hard, used corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:   corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes},
		Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func quotaPlugin(quotas ...*corev1.ResourceQuota) (*ResourceQuota, *fakeObjects) {
	var objs []runtime.Object
	for _, q := range quotas {
		objs = append(objs, q)
	}
	f := newFakeObjects(map[schema.GroupVersionResource][]runtime.Object{resourceQuotasResource: objs})
	return NewResourceQuota(f), f
}

func usedOf(t *testing.T, f *fakeObjects, name string, resource corev1.ResourceName) string {
	t.Helper()
	obj, err := f.Get(context.Background(), resourceQuotasResource, "ns", name)
	if err != nil {
		t.Fatal(err)
	}
	q := obj.(*corev1.ResourceQuota).Status.Used[resource]
	return q.String()
}

func TestResourceQuotaChargesAndRefuses(t *testing.T) {
	ctx := context.Background()
	q, f := quotaPlugin(resourceQuota("q", list("pods", "2"), list("pods", "1")))
	if err := validate(ctx, q, podCreate(newPod("ns", "a"))); err != nil {
		t.Fatal(err)
	}
	if got := usedOf(t, f, "q", "pods"); got != "2" {
		t.Errorf("used pods %s after a create, want 2", got)
	}
	wantForbidden(t, validate(ctx, q, podCreate(newPod("ns", "b"))), `pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`)
	// Dry runs are checked but not charged; other namespaces are not limited.
	q2, f2 := quotaPlugin(resourceQuota("q", list("pods", "2"), list("pods", "0")))
	a := podCreate(newPod("ns", "dry"))
	a.DryRun = true
	if err := validate(ctx, q2, a); err != nil {
		t.Fatal(err)
	}
	if got := usedOf(t, f2, "q", "pods"); got != "0" {
		t.Errorf("a dry run charged the quota: used %s", got)
	}
	if err := validate(ctx, q, podCreate(newPod("other", "x"))); err != nil {
		t.Errorf("a pod in a namespace without quotas: %v", err)
	}
}

func TestResourceQuotaCompute(t *testing.T) {
	ctx := context.Background()
	q, f := quotaPlugin(resourceQuota("compute", list("requests.cpu", "1", "limits.memory", "1Gi"), list("requests.cpu", "0", "limits.memory", "0")))
	wantForbidden(t, validate(ctx, q, podCreate(newPod("ns", "bare"))), `pods "bare" is forbidden: failed quota: compute: must specify limits.memory for: c; requests.cpu for: c`)
	sized := func(cpu string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: list("cpu", cpu), Limits: list("memory", "100Mi")}
		}
	}
	if err := validate(ctx, q, podCreate(newPod("ns", "a", sized("700m")))); err != nil {
		t.Fatal(err)
	}
	if got := usedOf(t, f, "compute", "requests.cpu"); got != "700m" {
		t.Errorf("used requests.cpu %s, want 700m", got)
	}
	wantForbidden(t, validate(ctx, q, podCreate(newPod("ns", "b", sized("400m")))),
		`pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=400m, used: requests.cpu=700m, limited: requests.cpu=1`)
}

func TestResourceQuotaUnknownStatus(t *testing.T) {
	rq := resourceQuota("fresh", list("pods", "2"), nil)
	rq.Status = corev1.ResourceQuotaStatus{}
	q, _ := quotaPlugin(rq)
	// A quota the controller has not counted yet has no status.hard, so it matches nothing.
	if err := validate(context.Background(), q, podCreate(newPod("ns", "a"))); err != nil {
		t.Errorf("quota without status: %v", err)
	}
	rq = resourceQuota("half", list("pods", "2"), nil)
	q, _ = quotaPlugin(rq)
	wantForbidden(t, validate(context.Background(), q, podCreate(newPod("ns", "a"))), `pods "a" is forbidden: status unknown for quota: half, resources: pods`)
}

func TestResourceQuotaScopesAndCounts(t *testing.T) {
	ctx := context.Background()
	q, f := quotaPlugin(
		resourceQuota("best-effort", list("pods", "1"), list("pods", "0"), corev1.ResourceQuotaScopeBestEffort),
		resourceQuota("objects", list("count/deployments.apps", "0", "services.nodeports", "0"), list("count/deployments.apps", "0", "services.nodeports", "0")),
	)
	// A pod with requests is not BestEffort: the scoped quota does not count it.
	burstable := newPod("ns", "burstable", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = list("cpu", "1") })
	if err := validate(ctx, q, podCreate(burstable)); err != nil {
		t.Fatal(err)
	}
	if got := usedOf(t, f, "best-effort", "pods"); got != "0" {
		t.Errorf("BestEffort quota charged for a burstable pod: %s", got)
	}
	if err := validate(ctx, q, podCreate(newPod("ns", "be"))); err != nil {
		t.Fatal(err)
	}
	wantForbidden(t, validate(ctx, q, podCreate(newPod("ns", "be2"))), `pods "be2" is forbidden: exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1`)

	deploy := &Attributes{Operation: Create, Kind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespace: "ns", Name: "d",
		Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "d"}}}
	wantForbidden(t, validate(ctx, q, deploy), `deployments.apps "d" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0`)

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "np"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Port: 80}}}}
	a := &Attributes{Operation: Create, Kind: corev1.SchemeGroupVersion.WithKind("Service"), Resource: corev1.SchemeGroupVersion.WithResource("services"),
		Namespace: "ns", Name: "np", Object: svc}
	wantForbidden(t, validate(ctx, q, a), `services "np" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0`)
}

// TestResourceQuotaConflictRechecks: a charge whose update conflicts (another server charged
// the quota meanwhile) is checked again against the new usage, and may then be refused.
func TestResourceQuotaConflictRechecks(t *testing.T) {
	ctx := context.Background()
	q, f := quotaPlugin(resourceQuota("q", list("pods", "2"), list("pods", "1")))
	f.beforeUpdate = func() {
		// Another API server takes the last pod, once.
		f.beforeUpdate = nil
		obj, _ := f.Get(ctx, resourceQuotasResource, "ns", "q")
		rq := obj.(*corev1.ResourceQuota)
		rq.Status.Used = list("pods", "2")
		if _, err := f.UpdateStatus(ctx, resourceQuotasResource, rq); err != nil {
			panic(err)
		}
	}
	wantForbidden(t, validate(ctx, q, podCreate(newPod("ns", "late"))), `pods "late" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`)
	if got := usedOf(t, f, "q", "pods"); got != "2" {
		t.Errorf("used %s, want 2", got)
	}
}

func TestResourceQuotaConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	q, f := quotaPlugin(resourceQuota("q", list("pods", "10"), list("pods", "0")))
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 30 {
		wg.Go(func() {
			err := validate(ctx, q, podCreate(newPod("ns", fmt.Sprintf("p%d", i))))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				admitted++
			} else if !apierrors.IsForbidden(err) {
				t.Errorf("p%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if admitted != 10 || usedOf(t, f, "q", "pods") != "10" {
		t.Errorf("admitted %d, used %s; want 10 and 10", admitted, usedOf(t, f, "q", "pods"))
	}
}
