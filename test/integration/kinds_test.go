package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/app"
)

// kindObject is what every served object is: a runtime.Object with ObjectMeta.
type kindObject interface {
	runtime.Object
	metav1.Object
}

// typedClient is the part of a client-go typed client that every kind has; the generated
// interfaces (PodInterface, DeploymentInterface...) satisfy it.
type typedClient[T kindObject, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// statusClient is the typed client of a kind with a status subresource.
type statusClient[T kindObject] interface {
	UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// kindCase is one served resource: what discovery must say about it, and its lifecycle run
// through the typed client.
type kindCase struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	shortNames []string
	// subresources discovery must list (besides those Gantry does not serve yet, such as
	// pods/log).
	subresources []string
	// lifecycle returns the test of one object's life in namespace ns ("" for cluster-scoped
	// kinds).
	lifecycle func(cs kubernetes.Interface, ns string) func(t *testing.T, name string)
}

func kindGVR(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// name is a name for the case's object (and its namespace) that no other case uses: events and
// horizontalpodautoscalers are served in two group versions, which share storage.
func (k kindCase) name() string {
	group := k.gvr.Group
	if group == "" {
		group = "core"
	}
	return "t-" + k.gvr.Resource + "-" + strings.Split(group, ".")[0] + "-" + k.gvr.Version
}

// testLabel marks every object of the lifecycle tests with its own name, for label selectors.
const testLabel = "gantry-test"

func testMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{testLabel: name}}
}

// testPodSpec names a scheduler no one runs: these tests bind pods themselves, and the
// server's scheduler must not add its events and conditions to what they check.
func testPodSpec(restart corev1.RestartPolicy) corev1.PodSpec {
	return corev1.PodSpec{RestartPolicy: restart, SchedulerName: "test-binds-itself", Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}
}

func testTemplate(app string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: testPodSpec(restart)}
}

func testSelector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func nowRFC3339() metav1.Time { return metav1.Now().Rfc3339Copy() }

// lifecycle creates, reads, lists, updates, patches, status-updates (when setStatus is given),
// watches and deletes one object with client.
func lifecycle[T kindObject, L runtime.Object](client typedClient[T, L], newObj func(name string) T, setStatus func(T)) func(t *testing.T, name string) {
	return func(t *testing.T, name string) {
		ctx := context.Background()
		created, err := client.Create(ctx, newObj(name), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if ts := created.GetCreationTimestamp(); created.GetName() != name || created.GetUID() == "" || created.GetResourceVersion() == "" || ts.IsZero() {
			t.Fatalf("create returned name %q uid %q resourceVersion %q creationTimestamp %v: want the name and all three set",
				created.GetName(), created.GetUID(), created.GetResourceVersion(), created.GetCreationTimestamp())
		}
		w, err := client.Watch(ctx, metav1.ListOptions{ResourceVersion: created.GetResourceVersion(), FieldSelector: "metadata.name=" + name})
		if err != nil {
			t.Fatalf("watch from the create's resourceVersion: %v", err)
		}
		defer w.Stop()

		got, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
			t.Errorf("get: uid %s resourceVersion %s, want %s and %s as created", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
		}

		for _, tc := range []struct {
			selector string
			want     []string
		}{
			{testLabel + "=" + name, []string{name}},
			{testLabel + "=" + name + ",missing=label", nil},
			{testLabel + "=someone-else", nil},
		} {
			list, err := client.List(ctx, metav1.ListOptions{LabelSelector: tc.selector})
			if err != nil {
				t.Fatalf("list %s: %v", tc.selector, err)
			}
			if names := itemNames(t, list); !slices.Equal(names, tc.want) {
				t.Errorf("list with labelSelector %s = %v, want %v", tc.selector, names, tc.want)
			}
			if la, _ := meta.ListAccessor(list); la == nil || la.GetResourceVersion() == "" {
				t.Errorf("list with labelSelector %s has no resourceVersion", tc.selector)
			}
		}

		labels := got.GetLabels()
		labels["step"] = "updated"
		got.SetLabels(labels)
		updated, err := client.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if updated.GetLabels()["step"] != "updated" || updated.GetResourceVersion() == created.GetResourceVersion() {
			t.Errorf("update: labels %v resourceVersion %s, want step=updated and a new resourceVersion", updated.GetLabels(), updated.GetResourceVersion())
		}
		want := []watch.EventType{watch.Modified}

		patched, err := client.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("merge patch: %v", err)
		}
		if patched.GetLabels()["patched"] != "yes" || patched.GetLabels()["step"] != "updated" {
			t.Errorf("merge patch: labels = %v, want patched=yes added to step=updated", patched.GetLabels())
		}
		want = append(want, watch.Modified)

		if setStatus != nil {
			sc, ok := any(client).(statusClient[T])
			if !ok {
				t.Fatalf("the typed client %T has no UpdateStatus", client)
			}
			setStatus(patched)
			sent := statusJSON(t, patched)
			if out, err := sc.UpdateStatus(ctx, patched, metav1.UpdateOptions{}); err != nil {
				// Go on: the rest of the lifecycle does not depend on it.
				t.Errorf("update status: %v", err)
			} else {
				if got := statusJSON(t, out); got != sent {
					t.Errorf("update status returned status\n%s\nwant\n%s", got, sent)
				}
				again, err := client.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := statusJSON(t, again); got != sent {
					t.Errorf("get after update status: status\n%s\nwant\n%s", got, sent)
				}
				want = append(want, watch.Modified)
			}
		}

		if err := client.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		left, err := client.Get(ctx, name, metav1.GetOptions{})
		switch ns, isNamespace := any(left).(*corev1.Namespace); {
		case err == nil && isNamespace:
			// Without a namespace controller to empty it, a namespace stays Terminating.
			if ns.DeletionTimestamp == nil || ns.Status.Phase != corev1.NamespaceTerminating {
				t.Errorf("deleted namespace: deletionTimestamp %v phase %q, want set and Terminating", ns.DeletionTimestamp, ns.Status.Phase)
			}
			want = append(want, watch.Modified)
		case !apierrors.IsNotFound(err):
			t.Errorf("get after delete: %v, want NotFound", err)
		default:
			want = append(want, watch.Deleted)
		}

		var seen []watch.EventType
		timeout := time.After(10 * time.Second)
	events:
		for len(seen) < len(want) {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Errorf("watch closed early")
					break events
				}
				if ev.Type == watch.Error {
					t.Fatalf("watch error: %v", apierrors.FromObject(ev.Object))
				}
				obj, ok := ev.Object.(T)
				if !ok {
					t.Fatalf("watch event object is a %T", ev.Object)
				}
				if obj.GetName() != name {
					t.Errorf("watch with metadata.name=%s sent %s", name, obj.GetName())
				}
				if len(seen) == 0 && obj.GetLabels()["step"] != "updated" {
					t.Errorf("first watch event after create: labels %v, want the update's step=updated", obj.GetLabels())
				}
				seen = append(seen, ev.Type)
			case <-timeout:
				break events
			}
		}
		if !slices.Equal(seen, want) {
			t.Errorf("watch from the create's resourceVersion saw %v, want %v", seen, want)
		}
	}
}

// itemNames returns the names of a list's items.
func itemNames(t *testing.T, list runtime.Object) []string {
	t.Helper()
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, item := range items {
		m, _ := meta.Accessor(item)
		names = append(names, m.GetName())
	}
	return names
}

// statusJSON is the status of obj as JSON.
func statusJSON(t *testing.T, obj any) string {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return string(m["status"])
}

// kindCases is every kind the server serves, with a minimal valid object and, for kinds with a
// status subresource, a valid status change.
func kindCases() []kindCase {
	return []kindCase{
		// core/v1
		{gvr: kindGVR("", "v1", "namespaces"), shortNames: []string{"ns"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Namespaces(), func(name string) *corev1.Namespace {
					return &corev1.Namespace{ObjectMeta: testMeta("", name)}
				}, func(o *corev1.Namespace) {
					o.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse,
						Reason: "ContentRemoved", Message: "checked by the test", LastTransitionTime: nowRFC3339()}}
				})
			}},
		{gvr: kindGVR("", "v1", "pods"), namespaced: true, shortNames: []string{"po"}, subresources: []string{"status", "binding", "eviction"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Pods(ns), func(name string) *corev1.Pod {
					return &corev1.Pod{ObjectMeta: testMeta(ns, name), Spec: testPodSpec("")}
				}, func(o *corev1.Pod) { o.Status.Message = "checked by the test" })
			}},
		{gvr: kindGVR("", "v1", "services"), namespaced: true, shortNames: []string{"svc"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Services(ns), func(name string) *corev1.Service {
					return &corev1.Service{ObjectMeta: testMeta(ns, name), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"},
						Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
				}, func(o *corev1.Service) {
					o.Status.Conditions = []metav1.Condition{{Type: "example.com/Checked", Status: metav1.ConditionTrue,
						Reason: "Tested", Message: "checked by the test", LastTransitionTime: nowRFC3339()}}
				})
			}},
		// v1 Endpoints is deprecated in favour of EndpointSlices, but still served.
		{gvr: kindGVR("", "v1", "endpoints"), namespaced: true, shortNames: []string{"ep"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Endpoints(ns), func(name string) *corev1.Endpoints {
					return &corev1.Endpoints{ObjectMeta: testMeta(ns, name), Subsets: []corev1.EndpointSubset{{
						Addresses: []corev1.EndpointAddress{{IP: "10.1.2.3"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "configmaps"), namespaced: true, shortNames: []string{"cm"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().ConfigMaps(ns), func(name string) *corev1.ConfigMap {
					return &corev1.ConfigMap{ObjectMeta: testMeta(ns, name), Data: map[string]string{"k": "v"}}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "secrets"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Secrets(ns), func(name string) *corev1.Secret {
					return &corev1.Secret{ObjectMeta: testMeta(ns, name), Data: map[string][]byte{"k": []byte("v")}}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "nodes"), shortNames: []string{"no"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Nodes(), func(name string) *corev1.Node {
					return &corev1.Node{ObjectMeta: testMeta("", name)}
				}, func(o *corev1.Node) {
					o.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
						Message: "checked by the test", LastHeartbeatTime: nowRFC3339(), LastTransitionTime: nowRFC3339()}}
				})
			}},
		{gvr: kindGVR("", "v1", "events"), namespaced: true, shortNames: []string{"ev"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().Events(ns), func(name string) *corev1.Event {
					return coreEvent(ns, name, "somepod")
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "serviceaccounts"), namespaced: true, shortNames: []string{"sa"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().ServiceAccounts(ns), func(name string) *corev1.ServiceAccount {
					return &corev1.ServiceAccount{ObjectMeta: testMeta(ns, name)}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "persistentvolumes"), shortNames: []string{"pv"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().PersistentVolumes(), func(name string) *corev1.PersistentVolume {
					return &corev1.PersistentVolume{ObjectMeta: testMeta("", name), Spec: corev1.PersistentVolumeSpec{
						Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
						AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
					}}
				}, func(o *corev1.PersistentVolume) { o.Status.Message = "checked by the test" })
			}},
		{gvr: kindGVR("", "v1", "persistentvolumeclaims"), namespaced: true, shortNames: []string{"pvc"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().PersistentVolumeClaims(ns), func(name string) *corev1.PersistentVolumeClaim {
					return &corev1.PersistentVolumeClaim{ObjectMeta: testMeta(ns, name), Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					}}
				}, func(o *corev1.PersistentVolumeClaim) {
					o.Status.Phase = corev1.ClaimBound
					o.Status.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
					o.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
				})
			}},
		{gvr: kindGVR("", "v1", "limitranges"), namespaced: true, shortNames: []string{"limits"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().LimitRanges(ns), func(name string) *corev1.LimitRange {
					return &corev1.LimitRange{ObjectMeta: testMeta(ns, name), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
						Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "resourcequotas"), namespaced: true, shortNames: []string{"quota"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().ResourceQuotas(ns), func(name string) *corev1.ResourceQuota {
					return &corev1.ResourceQuota{ObjectMeta: testMeta(ns, name), Spec: corev1.ResourceQuotaSpec{
						Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}}
				}, func(o *corev1.ResourceQuota) {
					o.Status.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}
					o.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}
				})
			}},
		{gvr: kindGVR("", "v1", "podtemplates"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().PodTemplates(ns), func(name string) *corev1.PodTemplate {
					return &corev1.PodTemplate{ObjectMeta: testMeta(ns, name), Template: testTemplate("x", "")}
				}, nil)
			}},
		{gvr: kindGVR("", "v1", "replicationcontrollers"), namespaced: true, shortNames: []string{"rc"}, subresources: []string{"status", "scale"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoreV1().ReplicationControllers(ns), func(name string) *corev1.ReplicationController {
					tmpl := testTemplate(name, "")
					return &corev1.ReplicationController{ObjectMeta: testMeta(ns, name), Spec: corev1.ReplicationControllerSpec{
						Replicas: ptr.To[int32](1), Selector: map[string]string{"app": name}, Template: &tmpl}}
				}, func(o *corev1.ReplicationController) { o.Status.ObservedGeneration = o.Generation })
			}},

		// apps/v1
		{gvr: kindGVR("apps", "v1", "deployments"), namespaced: true, shortNames: []string{"deploy"}, subresources: []string{"status", "scale"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AppsV1().Deployments(ns), func(name string) *appsv1.Deployment {
					d := deployment(name, 1)
					d.ObjectMeta = testMeta(ns, name)
					return d
				}, func(o *appsv1.Deployment) { o.Status.ObservedGeneration = o.Generation })
			}},
		{gvr: kindGVR("apps", "v1", "replicasets"), namespaced: true, shortNames: []string{"rs"}, subresources: []string{"status", "scale"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AppsV1().ReplicaSets(ns), func(name string) *appsv1.ReplicaSet {
					return &appsv1.ReplicaSet{ObjectMeta: testMeta(ns, name), Spec: appsv1.ReplicaSetSpec{
						Replicas: ptr.To[int32](1), Selector: testSelector(name), Template: testTemplate(name, "")}}
				}, func(o *appsv1.ReplicaSet) { o.Status.ObservedGeneration = o.Generation })
			}},
		{gvr: kindGVR("apps", "v1", "statefulsets"), namespaced: true, shortNames: []string{"sts"}, subresources: []string{"status", "scale"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AppsV1().StatefulSets(ns), func(name string) *appsv1.StatefulSet {
					return &appsv1.StatefulSet{ObjectMeta: testMeta(ns, name), Spec: appsv1.StatefulSetSpec{
						ServiceName: "sts", Replicas: ptr.To[int32](1), Selector: testSelector(name), Template: testTemplate(name, "")}}
				}, func(o *appsv1.StatefulSet) { o.Status.ObservedGeneration = o.Generation })
			}},
		{gvr: kindGVR("apps", "v1", "daemonsets"), namespaced: true, shortNames: []string{"ds"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AppsV1().DaemonSets(ns), func(name string) *appsv1.DaemonSet {
					return &appsv1.DaemonSet{ObjectMeta: testMeta(ns, name), Spec: appsv1.DaemonSetSpec{
						Selector: testSelector(name), Template: testTemplate(name, "")}}
				}, func(o *appsv1.DaemonSet) { o.Status.ObservedGeneration = o.Generation })
			}},
		{gvr: kindGVR("apps", "v1", "controllerrevisions"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AppsV1().ControllerRevisions(ns), func(name string) *appsv1.ControllerRevision {
					return &appsv1.ControllerRevision{ObjectMeta: testMeta(ns, name), Revision: 1,
						Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{}}}`)}}
				}, nil)
			}},

		// batch/v1
		{gvr: kindGVR("batch", "v1", "jobs"), namespaced: true, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.BatchV1().Jobs(ns), func(name string) *batchv1.Job {
					return &batchv1.Job{ObjectMeta: testMeta(ns, name), Spec: batchv1.JobSpec{Template: testTemplate(name, corev1.RestartPolicyNever)}}
				}, func(o *batchv1.Job) { o.Status.StartTime = ptr.To(nowRFC3339()) })
			}},
		{gvr: kindGVR("batch", "v1", "cronjobs"), namespaced: true, shortNames: []string{"cj"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.BatchV1().CronJobs(ns), func(name string) *batchv1.CronJob {
					return &batchv1.CronJob{ObjectMeta: testMeta(ns, name), Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
						JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: testTemplate(name, corev1.RestartPolicyOnFailure)}}}}
				}, func(o *batchv1.CronJob) { o.Status.LastScheduleTime = ptr.To(nowRFC3339()) })
			}},

		// autoscaling/v2 and v1
		{gvr: kindGVR("autoscaling", "v2", "horizontalpodautoscalers"), namespaced: true, shortNames: []string{"hpa"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AutoscalingV2().HorizontalPodAutoscalers(ns), func(name string) *autoscalingv2.HorizontalPodAutoscaler {
					return hpaV2(ns, name)
				}, func(o *autoscalingv2.HorizontalPodAutoscaler) {
					o.Status.CurrentReplicas, o.Status.DesiredReplicas = 1, 2
				})
			}},
		{gvr: kindGVR("autoscaling", "v1", "horizontalpodautoscalers"), namespaced: true, shortNames: []string{"hpa"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.AutoscalingV1().HorizontalPodAutoscalers(ns), func(name string) *autoscalingv1.HorizontalPodAutoscaler {
					return &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: testMeta(ns, name), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
						ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
						MinReplicas:    ptr.To[int32](1), MaxReplicas: 3}}
				}, func(o *autoscalingv1.HorizontalPodAutoscaler) {
					o.Status.CurrentReplicas, o.Status.DesiredReplicas = 1, 2
				})
			}},

		// networking.k8s.io/v1
		{gvr: kindGVR("networking.k8s.io", "v1", "networkpolicies"), namespaced: true, shortNames: []string{"netpol"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.NetworkingV1().NetworkPolicies(ns), func(name string) *networkingv1.NetworkPolicy {
					return &networkingv1.NetworkPolicy{ObjectMeta: testMeta(ns, name)}
				}, nil)
			}},
		{gvr: kindGVR("networking.k8s.io", "v1", "ingresses"), namespaced: true, shortNames: []string{"ing"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.NetworkingV1().Ingresses(ns), func(name string) *networkingv1.Ingress {
					return &networkingv1.Ingress{ObjectMeta: testMeta(ns, name), Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
				}, func(o *networkingv1.Ingress) {
					o.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}}
				})
			}},
		{gvr: kindGVR("networking.k8s.io", "v1", "ingressclasses"),
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.NetworkingV1().IngressClasses(), func(name string) *networkingv1.IngressClass {
					return &networkingv1.IngressClass{ObjectMeta: testMeta("", name), Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress"}}
				}, nil)
			}},

		// discovery.k8s.io/v1, coordination.k8s.io/v1
		{gvr: kindGVR("discovery.k8s.io", "v1", "endpointslices"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.DiscoveryV1().EndpointSlices(ns), func(name string) *discoveryv1.EndpointSlice {
					return &discoveryv1.EndpointSlice{ObjectMeta: testMeta(ns, name), AddressType: discoveryv1.AddressTypeIPv4,
						Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.2.3"}}},
						Ports:     []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)}}}
				}, nil)
			}},
		{gvr: kindGVR("coordination.k8s.io", "v1", "leases"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.CoordinationV1().Leases(ns), func(name string) *coordinationv1.Lease {
					return &coordinationv1.Lease{ObjectMeta: testMeta(ns, name), Spec: coordinationv1.LeaseSpec{
						HolderIdentity: ptr.To("gantry-test"), LeaseDurationSeconds: ptr.To[int32](15)}}
				}, nil)
			}},

		// rbac.authorization.k8s.io/v1
		{gvr: kindGVR("rbac.authorization.k8s.io", "v1", "roles"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.RbacV1().Roles(ns), func(name string) *rbacv1.Role {
					return &rbacv1.Role{ObjectMeta: testMeta(ns, name), Rules: podReader}
				}, nil)
			}},
		{gvr: kindGVR("rbac.authorization.k8s.io", "v1", "clusterroles"),
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.RbacV1().ClusterRoles(), func(name string) *rbacv1.ClusterRole {
					return &rbacv1.ClusterRole{ObjectMeta: testMeta("", name), Rules: podReader}
				}, nil)
			}},
		{gvr: kindGVR("rbac.authorization.k8s.io", "v1", "rolebindings"), namespaced: true,
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.RbacV1().RoleBindings(ns), func(name string) *rbacv1.RoleBinding {
					return &rbacv1.RoleBinding{ObjectMeta: testMeta(ns, name), Subjects: alice,
						RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}}
				}, nil)
			}},
		{gvr: kindGVR("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.RbacV1().ClusterRoleBindings(), func(name string) *rbacv1.ClusterRoleBinding {
					return &rbacv1.ClusterRoleBinding{ObjectMeta: testMeta("", name), Subjects: alice,
						RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
				}, nil)
			}},

		// policy/v1, storage.k8s.io/v1, scheduling.k8s.io/v1, events.k8s.io/v1
		{gvr: kindGVR("policy", "v1", "poddisruptionbudgets"), namespaced: true, shortNames: []string{"pdb"}, subresources: []string{"status"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.PolicyV1().PodDisruptionBudgets(ns), func(name string) *policyv1.PodDisruptionBudget {
					return &policyv1.PodDisruptionBudget{ObjectMeta: testMeta(ns, name), Spec: policyv1.PodDisruptionBudgetSpec{
						MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: testSelector(name)}}
				}, func(o *policyv1.PodDisruptionBudget) {
					o.Status.ObservedGeneration = o.Generation
					o.Status.DesiredHealthy = 1
				})
			}},
		{gvr: kindGVR("storage.k8s.io", "v1", "storageclasses"), shortNames: []string{"sc"},
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.StorageV1().StorageClasses(), func(name string) *storagev1.StorageClass {
					return &storagev1.StorageClass{ObjectMeta: testMeta("", name), Provisioner: "example.com/provisioner"}
				}, nil)
			}},
		{gvr: kindGVR("scheduling.k8s.io", "v1", "priorityclasses"), shortNames: []string{"pc"},
			lifecycle: func(cs kubernetes.Interface, _ string) func(*testing.T, string) {
				return lifecycle(cs.SchedulingV1().PriorityClasses(), func(name string) *schedulingv1.PriorityClass {
					return &schedulingv1.PriorityClass{ObjectMeta: testMeta("", name), Value: 1000, Description: "test"}
				}, nil)
			}},
		{gvr: kindGVR("events.k8s.io", "v1", "events"), namespaced: true, shortNames: []string{"ev"},
			lifecycle: func(cs kubernetes.Interface, ns string) func(*testing.T, string) {
				return lifecycle(cs.EventsV1().Events(ns), func(name string) *eventsv1.Event {
					return eventsV1Event(ns, name, "somepod")
				}, nil)
			}},
	}
}

var (
	podReader = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}
	alice     = []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}
)

func coreEvent(ns, name, pod string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     testMeta(ns, name),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: pod},
		Reason:         "Tested", Message: "hello from the test", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "gantry-test"},
		FirstTimestamp: nowRFC3339(), LastTimestamp: nowRFC3339(), Count: 1,
	}
}

func eventsV1Event(ns, name, pod string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: testMeta(ns, name), EventTime: metav1.NewMicroTime(time.Now()),
		ReportingController: "example.com/gantry-test", ReportingInstance: "gantry-test-1",
		Action: "Testing", Reason: "Tested", Type: corev1.EventTypeNormal, Note: "hello from the test",
		Regarding: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: pod},
	}
}

func hpaV2(ns, name string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: testMeta(ns, name), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
	}}
}

// bodyRecorder records the Content-Type of every request with a body that a client sends.
type bodyRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]int // "POST application/vnd.kubernetes.protobuf" -> count
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		b.mu.Lock()
		b.seen[r.Method+" "+r.Header.Get("Content-Type")]++
		b.mu.Unlock()
	}
	return b.next.RoundTrip(r)
}

func (b *bodyRecorder) snapshot() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.seen {
		out[k] = v
	}
	return out
}

// TestTypedClientsEveryKind drives every served kind through client-go's typed clients, which
// send protobuf bodies, and checks discovery, field selectors, paging, generateName,
// finalizers, graceful pod deletion, binding and eviction.
func TestTypedClientsEveryKind(t *testing.T) {
	// The API alone: no controller writes to the objects under test.
	c := startCluster(t, func(cfg *app.ServerConfig) { cfg.DisableControllers = true })
	ctx := context.Background()

	rec := &bodyRecorder{seen: map[string]int{}}
	cfg := rest.CopyConfig(c.config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	cs := kubernetes.NewForConfigOrDie(cfg)

	cases := kindCases()
	t.Run("lifecycle", func(t *testing.T) {
		for _, k := range cases {
			t.Run(k.gvr.GroupResource().String()+"/"+k.gvr.Version, func(t *testing.T) {
				ns := ""
				if k.namespaced {
					ns = k.name()
					if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				k.lifecycle(cs, ns)(t, k.name())
			})
		}
		// Typed clients of built-in kinds prefer protobuf: every create, update and delete
		// must have arrived as protobuf (patches are JSON).
		for req, n := range rec.snapshot() {
			method, ct, _ := strings.Cut(req, " ")
			if method != http.MethodPatch && ct != "application/vnd.kubernetes.protobuf" {
				t.Errorf("%d %s requests had Content-Type %q, want the typed clients' protobuf", n, method, ct)
			}
		}
		if rec.snapshot()["POST application/vnd.kubernetes.protobuf"] == 0 {
			t.Errorf("no protobuf POST was recorded: %v", rec.snapshot())
		}
	})

	t.Run("discovery", func(t *testing.T) {
		groups, lists, err := c.client.Discovery().ServerGroupsAndResources()
		if err != nil {
			t.Fatal(err)
		}
		served := map[string]metav1.APIResource{}
		for _, l := range lists {
			for _, r := range l.APIResources {
				served[l.GroupVersion+"/"+r.Name] = r
			}
		}
		for _, k := range cases {
			gv := k.gvr.GroupVersion().String()
			r, ok := served[gv+"/"+k.gvr.Resource]
			if !ok {
				t.Errorf("discovery does not list %s in %s", k.gvr.Resource, gv)
				continue
			}
			if !slices.Equal(r.ShortNames, k.shortNames) {
				t.Errorf("%s %s: shortNames %v, want %v", gv, k.gvr.Resource, r.ShortNames, k.shortNames)
			}
			if r.Namespaced != k.namespaced {
				t.Errorf("%s %s: namespaced %v, want %v", gv, k.gvr.Resource, r.Namespaced, k.namespaced)
			}
			if verbs := sortedStrings(r.Verbs); !slices.Equal(verbs, []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}) {
				t.Errorf("%s %s: verbs %v", gv, k.gvr.Resource, verbs)
			}
			for _, sub := range k.subresources {
				if _, ok := served[gv+"/"+k.gvr.Resource+"/"+sub]; !ok {
					t.Errorf("discovery does not list %s/%s in %s", k.gvr.Resource, sub, gv)
				}
			}
		}
		if r := served["apps/v1/deployments/scale"]; r.Group != "autoscaling" || r.Version != "v1" || r.Kind != "Scale" {
			t.Errorf("deployments/scale is %s/%s %s, want autoscaling/v1 Scale (kubectl scale needs it)", r.Group, r.Version, r.Kind)
		}
		for _, g := range groups {
			if g.Name == "autoscaling" && g.PreferredVersion.Version != "v2" {
				t.Errorf("autoscaling preferred version = %s, want v2", g.PreferredVersion.Version)
			}
		}
	})

	t.Run("field selectors", func(t *testing.T) {
		const ns = "fields"
		createNamespace(t, c, ns)
		pods := c.client.CoreV1().Pods(ns)
		for _, name := range []string{"a", "b"} {
			if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: testPodSpec("")}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		bindPod(t, c, ns, "b", "node-1")
		for _, name := range []string{"a", "b"} {
			if _, err := c.client.CoreV1().Events(ns).Create(ctx, coreEvent(ns, "ev-"+name, name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			resource, selector string
			want               []string
		}{
			{"pods", "spec.nodeName=", []string{"a"}},
			{"pods", "spec.nodeName=node-1", []string{"b"}},
			{"pods", "status.phase=Pending", []string{"a", "b"}},
			{"pods", "status.phase=Running", nil},
			{"pods", "metadata.name=a", []string{"a"}},
			{"pods", "metadata.name!=a", []string{"b"}},
			{"pods", "status.phase=Pending,spec.nodeName=node-1", []string{"b"}},
			{"events", "involvedObject.name=a", []string{"ev-a"}},
			{"events", "involvedObject.kind=Pod,involvedObject.name=b", []string{"ev-b"}},
			{"events", "reason=Tested", []string{"ev-a", "ev-b"}},
		} {
			var list runtime.Object
			var err error
			if tc.resource == "pods" {
				list, err = pods.List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			} else {
				list, err = c.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			}
			if err != nil {
				t.Errorf("%s with fieldSelector %s: %v", tc.resource, tc.selector, err)
				continue
			}
			if got := itemNames(t, list); !slices.Equal(got, tc.want) {
				t.Errorf("%s with fieldSelector %s = %v, want %v", tc.resource, tc.selector, got, tc.want)
			}
		}
		_, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.foo=bar"})
		if !apierrors.IsBadRequest(err) || err.Error() != "field label not supported: spec.foo" {
			t.Errorf("unsupported field label: %v, want 400 BadRequest with \"field label not supported: spec.foo\"", err)
		}
	})

	t.Run("limit and continue", func(t *testing.T) {
		const ns = "pages"
		createNamespace(t, c, ns)
		// Secrets: no controller adds any to a new namespace (configmaps get kube-root-ca.crt).
		cms := c.client.CoreV1().Secrets(ns)
		var want []string
		for i := 0; i < 25; i++ {
			name := fmt.Sprintf("cm-%02d", i)
			want = append(want, name)
			if _, err := cms.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		var rv, cont string
		wantRemaining := []*int64{ptr.To[int64](15), ptr.To[int64](5), nil}
		for page := 0; page < 3; page++ {
			list, err := cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: cont})
			if err != nil {
				t.Fatalf("page %d: %v", page+1, err)
			}
			if page == 0 {
				rv = list.ResourceVersion
				// Lists go on at the first page's revision: this one is in no page.
				if _, err := cms.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cm-zz"}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if list.ResourceVersion != rv {
				t.Errorf("page %d resourceVersion = %s, want the first page's %s", page+1, list.ResourceVersion, rv)
			}
			if r, w := list.RemainingItemCount, wantRemaining[page]; (r == nil) != (w == nil) || (r != nil && *r != *w) {
				t.Errorf("page %d remainingItemCount = %v, want %v", page+1, ptrString(r), ptrString(w))
			}
			if last := page == 2; (list.Continue == "") != last {
				t.Errorf("page %d continue = %q", page+1, list.Continue)
			}
			got = append(got, itemNames(t, list)...)
			cont = list.Continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged list returned %v, want each of %v exactly once", got, want)
		}
		if _, err := cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: "garbage"}); !apierrors.IsBadRequest(err) {
			t.Errorf("garbage continue token: %v, want 400 BadRequest", err)
		}
	})

	t.Run("generateName", func(t *testing.T) {
		seen := map[string]bool{}
		for i := 0; i < 3; i++ {
			cm, err := c.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(cm.Name, "gen-") || len(cm.Name) != len("gen-")+5 || seen[cm.Name] {
				t.Errorf("generated name %q: want gen- and five new random characters", cm.Name)
			}
			if cm.GenerateName != "gen-" {
				t.Errorf("generateName = %q, want it kept", cm.GenerateName)
			}
			seen[cm.Name] = true
		}
	})

	t.Run("finalizers", func(t *testing.T) {
		cms := c.client.CoreV1().ConfigMaps("default")
		held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
		if _, err := cms.Create(ctx, held, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := cms.Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("an object with a finalizer is gone after delete: %v", err)
		}
		if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 0 {
			t.Errorf("deleted object with a finalizer: deletionTimestamp %v deletionGracePeriodSeconds %v, want set and 0",
				got.DeletionTimestamp, ptrString(got.DeletionGracePeriodSeconds))
		}
		// Deleting again changes nothing.
		if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Errorf("second delete: %v", err)
		}
		got.Finalizers = nil
		if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("removing the finalizer: %v", err)
		}
		if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after its last finalizer was removed: %v, want NotFound", err)
		}
	})

	t.Run("graceful pod deletion", func(t *testing.T) {
		pods := c.client.CoreV1().Pods("default")
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "graceful"}, Spec: testPodSpec("")}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bindPod(t, c, "default", "graceful", "node-1")
		bound, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if bound.Spec.NodeName != "node-1" || !hasCondition(bound, corev1.PodScheduled) {
			t.Errorf("bound pod: nodeName %q conditions %v, want node-1 and PodScheduled=True", bound.Spec.NodeName, bound.Status.Conditions)
		}
		before := time.Now()
		if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("a bound pod is gone at once after a graceful delete: %v", err)
		}
		if got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
			t.Errorf("deletionGracePeriodSeconds = %v, want the default 30", ptrString(got.DeletionGracePeriodSeconds))
		}
		if dt := got.DeletionTimestamp; dt == nil || dt.Time.Before(before.Add(28*time.Second)) || dt.Time.After(time.Now().Add(31*time.Second)) {
			t.Errorf("deletionTimestamp = %v, want about 30s from now", dt)
		}
		if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "graceful", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after delete with gracePeriodSeconds=0: %v, want NotFound", err)
		}
	})

	t.Run("binding and eviction", func(t *testing.T) {
		pods := c.client.CoreV1().Pods("default")
		for _, name := range []string{"evicted", "bound"} {
			if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: testPodSpec("")}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evicted", Namespace: "default"}}); err != nil {
			t.Fatalf("evict an unbound pod: %v", err)
		}
		if _, err := pods.Get(ctx, "evicted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("evicted unbound pod: %v, want NotFound", err)
		}
		bindPod(t, c, "default", "bound", "node-1")
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-2"}}, metav1.CreateOptions{})
		const msg = `Operation cannot be fulfilled on pods/binding "bound": pod bound is already assigned to node "node-1"`
		if !apierrors.IsConflict(err) || err.Error() != msg {
			t.Errorf("binding a bound pod: %v, want 409 Conflict: %s", err, msg)
		}
		// A bound pod is deleted gracefully: it stays, marked as evicted by the Eviction API.
		if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "bound", Namespace: "default"}}); err != nil {
			t.Fatalf("evict a bound pod: %v", err)
		}
		got, err := pods.Get(ctx, "bound", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.DisruptionTarget })
		if got.DeletionTimestamp == nil || i < 0 || got.Status.Conditions[i].Reason != "EvictionByEvictionAPI" || got.Status.Conditions[i].Status != corev1.ConditionTrue {
			t.Errorf("evicted bound pod: deletionTimestamp %v conditions %+v, want set and DisruptionTarget/EvictionByEvictionAPI", got.DeletionTimestamp, got.Status.Conditions)
		}
	})

	// Kubernetes keeps one object per HorizontalPodAutoscaler and per Event, whichever group
	// version wrote it: each is readable in every version that serves it.
	t.Run("versions share storage", func(t *testing.T) {
		const ns = "versions"
		createNamespace(t, c, ns)
		v2, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpaV2(ns, "shared"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v1, err := c.client.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "shared", metav1.GetOptions{})
		if err != nil {
			t.Errorf("autoscaling/v1 get of an HPA created with autoscaling/v2: %v", err)
		} else if v1.UID != v2.UID || v1.Spec.ScaleTargetRef.Name != "web" || v1.Spec.MaxReplicas != 3 {
			t.Errorf("autoscaling/v1 view: uid %s scaleTargetRef %v maxReplicas %d, want %s, web and 3", v1.UID, v1.Spec.ScaleTargetRef, v1.Spec.MaxReplicas, v2.UID)
		}
		if list, err := c.client.AutoscalingV1().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("autoscaling/v1 list: %v", err)
		} else if got := itemNames(t, list); !slices.Equal(got, []string{"shared"}) {
			t.Errorf("autoscaling/v1 list = %v, want [shared]", got)
		}

		ev, err := c.client.EventsV1().Events(ns).Create(ctx, eventsV1Event(ns, "shared", "somepod"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		core, err := c.client.CoreV1().Events(ns).Get(ctx, "shared", metav1.GetOptions{})
		if err != nil {
			t.Errorf("core/v1 get of an event created with events.k8s.io/v1: %v", err)
		} else if core.UID != ev.UID || core.InvolvedObject.Name != "somepod" || core.Reason != "Tested" || core.Message != "hello from the test" {
			t.Errorf("core/v1 view: uid %s involvedObject %v reason %q message %q", core.UID, core.InvolvedObject, core.Reason, core.Message)
		}
	})
}

func createNamespace(t *testing.T, c *cluster, name string) {
	t.Helper()
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// bindPod assigns a pod to a node, as the scheduler does.
func bindPod(t *testing.T, c *cluster, ns, pod, node string) {
	t.Helper()
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := c.client.CoreV1().Pods(ns).Bind(context.Background(), b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind %s to %s: %v", pod, node, err)
	}
}

func hasCondition(p *corev1.Pod, typ corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
