package resourcequota

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
)

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(name string, phase corev1.PodPhase, cpu string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: list("cpu", cpu), Limits: list("cpu", cpu)}}}},
		Status: corev1.PodStatus{Phase: phase}}
}

// run starts c over client's objects and returns a function that reconciles key until it
// settles, returning the quota as then stored.
func run(t *testing.T, objs ...runtime.Object) (*fake.Clientset, func(key string) *corev1.ResourceQuota) {
	client := fake.NewClientset(objs...)
	client.Resources = []*metav1.APIResourceList{{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: metav1.Verbs{"list", "watch", "get"}}}}}
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	c.ctx = ctx
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), factory.Core().V1().ResourceQuotas().Informer().HasSynced)
	return client, func(key string) *corev1.ResourceQuota {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			// Informers start lazily: until they have synced, Reconcile asks to be retried.
			err := c.Reconcile(ctx, key)
			if err == nil || err.Error() == controller.RequeueAfter(resync).Error() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reconcile %s: %v", key, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		rq, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rq
	}
}

func TestReconcileCountsUsage(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "10", "requests.cpu", "4", "count/deployments.apps", "3")}}
	other := pod("elsewhere", corev1.PodRunning, "1")
	other.Namespace = "other"
	_, reconcile := run(t, q,
		pod("a", corev1.PodRunning, "1"), pod("b", corev1.PodPending, "500m"),
		pod("done", corev1.PodSucceeded, "2"), other,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "d"}})
	rq := reconcile("ns/q")
	if !equal(rq.Status.Hard, q.Spec.Hard) {
		t.Errorf("status.hard %v, want spec.hard %v", rq.Status.Hard, q.Spec.Hard)
	}
	// Finished pods and other namespaces do not count.
	if want := list("pods", "2", "requests.cpu", "1500m", "count/deployments.apps", "1"); !equal(rq.Status.Used, want) {
		t.Errorf("status.used %v, want %v", rq.Status.Used, want)
	}
}

func TestReconcileFreesUsage(t *testing.T) {
	// Admission charged three pods; only one exists.
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q"},
		Spec:   corev1.ResourceQuotaSpec{Hard: list("pods", "3")},
		Status: corev1.ResourceQuotaStatus{Hard: list("pods", "3"), Used: list("pods", "3")}}
	_, reconcile := run(t, q, pod("a", corev1.PodRunning, "1"))
	if rq := reconcile("ns/q"); !equal(rq.Status.Used, list("pods", "1")) {
		t.Errorf("status.used %v, want pods=1", rq.Status.Used)
	}
}

func equal(a, b corev1.ResourceList) bool {
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
