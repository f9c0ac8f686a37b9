package deployment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func newDeployment(n int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template(image),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

// rs builds a ReplicaSet of d for image with replicas n (all available unless avail says
// otherwise), at revision rev, created age minutes after epoch.
func rs(d *appsv1.Deployment, image string, n, avail int32, rev, age int) *appsv1.ReplicaSet {
	t := template(image)
	hash := controller.TemplateHash(&t, nil)
	t.Labels["pod-template-hash"] = hash
	yes := true
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + image, Namespace: "ns", UID: types.UID("uid-" + image),
			Labels:            t.Labels,
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute)),
			Annotations: map[string]string{revisionAnnotation: fmt.Sprint(rev),
				desiredReplicasAnnotation: fmt.Sprint(*d.Spec.Replicas), maxReplicasAnnotation: fmt.Sprint(*d.Spec.Replicas + 1)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(n), Template: t,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": hash}}},
		Status: appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: avail, AvailableReplicas: avail},
	}
}

// reconcile runs one Reconcile of ns/web over objects and describes the writes.
func reconcile(t *testing.T, objects ...runtime.Object) ([]string, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, record.NewFakeRecorder(100))
	c.now = func() time.Time { return epoch.Add(time.Hour) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	if err := c.Reconcile(ctx, "ns/web"); err != nil && !strings.HasPrefix(err.Error(), "requeue after") {
		t.Fatalf("reconcile: %v", err)
	}
	// Status writes that change the revision annotation show it: the controller records
	// revisions through the status subresource.
	revs := map[string]string{}
	for _, o := range objects {
		if d, ok := o.(*appsv1.Deployment); ok {
			revs[d.Name] = d.Annotations[revisionAnnotation]
		}
	}
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetVerb() == "get" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		if a.GetVerb() == "delete" {
			s += " " + a.(clienttesting.DeleteAction).GetName()
		}
		if o, ok := a.(clienttesting.CreateAction); ok {
			switch o := o.GetObject().(type) {
			case *appsv1.ReplicaSet:
				s += fmt.Sprintf(" %s replicas=%d rev=%s", o.Name, *o.Spec.Replicas, o.Annotations[revisionAnnotation])
			case *appsv1.Deployment:
				if a.GetSubresource() == "status" {
					if rev := o.Annotations[revisionAnnotation]; rev != revs[o.Name] {
						s += " rev=" + rev
						revs[o.Name] = rev
					}
					s += " " + describeStatus(o.Status)
				} else {
					s += " rev=" + o.Annotations[revisionAnnotation]
				}
			}
		}
		out = append(out, s)
	}
	return out, client
}

func describeStatus(st appsv1.DeploymentStatus) string {
	s := fmt.Sprintf("replicas=%d updated=%d available=%d unavailable=%d", st.Replicas, st.UpdatedReplicas,
		st.AvailableReplicas, st.UnavailableReplicas)
	conds := slices.Clone(st.Conditions)
	slices.SortFunc(conds, func(a, b appsv1.DeploymentCondition) int { return strings.Compare(string(a.Type), string(b.Type)) })
	for _, c := range conds {
		s += fmt.Sprintf(" %s=%s/%s", c.Type, c.Status, c.Reason)
	}
	return s
}

func TestReconcile(t *testing.T) {
	v1 := newDeployment(3, "v1")
	v2 := newDeployment(3, "v2")
	v2.Annotations = map[string]string{revisionAnnotation: "1"}
	hashV1 := func() string { tt := template("v1"); return controller.TemplateHash(&tt, nil) }()
	hashV2 := func() string { tt := template("v2"); return controller.TemplateHash(&tt, nil) }()

	paused := newDeployment(3, "v2")
	paused.Spec.Paused = true

	recreate := newDeployment(3, "v2")
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}

	undo := newDeployment(3, "v1") // template back to revision 1's
	undo.Annotations = map[string]string{revisionAnnotation: "2"}

	history := newDeployment(3, "v4")
	history.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	history.Annotations = map[string]string{revisionAnnotation: "4"}
	history.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3, ReadyReplicas: 3}

	stuck := newDeployment(3, "v2")
	stuck.Annotations = map[string]string{revisionAnnotation: "2"}
	// At maxSurge with too few available to scale down: nothing can move.
	stuck.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2,
		UnavailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
			Reason: reasonRSUpdated, LastUpdateTime: metav1.NewTime(epoch), LastTransitionTime: metav1.NewTime(epoch)}}}

	scaled := newDeployment(20, "v2")
	scaled.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(3))
	scaled.Annotations = map[string]string{revisionAnnotation: "2"}
	oldScaled, newScaled := rs(newDeployment(10, "v1"), "v1", 8, 8, 1, 0), rs(newDeployment(10, "v2"), "v2", 5, 0, 2, 1)
	oldScaled.Annotations[maxReplicasAnnotation], newScaled.Annotations[maxReplicasAnnotation] = "13", "13"

	tests := []struct {
		name    string
		objects []runtime.Object
		want    []string
	}{
		{name: "new deployment gets its replicaset", objects: []runtime.Object{v1}, want: []string{
			"create replicasets web-" + hashV1 + " replicas=3 rev=1",
			"update deployments/status rev=1 replicas=0 updated=0 available=0 unavailable=0",
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=True/NewReplicaSetCreated",
			"update deployments/status replicas=0 updated=0 available=0 unavailable=3 Available=False/MinimumReplicasUnavailable Progressing=True/NewReplicaSetCreated",
		}},
		{name: "rollout surges the new replicaset by maxSurge", objects: []runtime.Object{v2, rs(v2, "v1", 3, 3, 1, 0)}, want: []string{
			"create replicasets web-" + hashV2 + " replicas=1 rev=2",
			"update deployments/status rev=2 replicas=0 updated=0 available=0 unavailable=0",
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=True/NewReplicaSetCreated",
			"update replicasets web-v1 replicas=2 rev=1",
			"update deployments/status replicas=3 updated=0 available=3 unavailable=0 Available=True/MinimumReplicasAvailable Progressing=True/ReplicaSetUpdated",
		}},
		{name: "old replicaset scaled down within maxUnavailable", objects: []runtime.Object{v2, rs(v2, "v1", 3, 3, 1, 0), rs(v2, "v2", 1, 0, 2, 1)}, want: []string{
			"update deployments/status rev=2 replicas=0 updated=0 available=0 unavailable=0",
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=True/FoundNewReplicaSet",
			"update replicasets web-v1 replicas=2 rev=1",
			"update deployments/status replicas=4 updated=1 available=3 unavailable=0 Available=True/MinimumReplicasAvailable Progressing=True/ReplicaSetUpdated",
		}},
		{name: "paused deployment does not roll", objects: []runtime.Object{paused, rs(paused, "v1", 3, 3, 1, 0)}, want: []string{
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=Unknown/DeploymentPaused",
			"update deployments/status replicas=3 updated=0 available=3 unavailable=0 Available=True/MinimumReplicasAvailable Progressing=Unknown/DeploymentPaused",
		}},
		{name: "recreate scales old to zero first", objects: []runtime.Object{recreate, rs(recreate, "v1", 3, 3, 1, 0)}, want: []string{
			"update replicasets web-v1 replicas=0 rev=1",
			"update deployments/status replicas=3 updated=0 available=3 unavailable=0 Available=True/MinimumReplicasAvailable Progressing=True/ReplicaSetUpdated",
		}},
		{name: "undo reuses the old replicaset with a new revision", objects: []runtime.Object{undo, rs(undo, "v1", 0, 0, 1, 0), rs(undo, "v2", 3, 3, 2, 1)}, want: []string{
			"update replicasets web-v1 replicas=0 rev=3",
			"update deployments/status rev=3 replicas=0 updated=0 available=0 unavailable=0",
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=True/FoundNewReplicaSet",
			"update replicasets web-v1 replicas=1 rev=3",
			"update deployments/status replicas=3 updated=0 available=3 unavailable=1 Available=True/MinimumReplicasAvailable Progressing=True/ReplicaSetUpdated",
		}},
		{name: "history beyond the limit is deleted", objects: []runtime.Object{history, rs(history, "v1", 0, 0, 1, 0),
			rs(history, "v2", 0, 0, 2, 1), rs(history, "v3", 0, 0, 3, 2), rs(history, "v4", 3, 3, 4, 3)}, want: []string{
			"update deployments/status replicas=3 updated=3 available=3 unavailable=0 Progressing=True/FoundNewReplicaSet",
			"delete replicasets web-v1",
			"delete replicasets web-v2",
			"update deployments/status replicas=3 updated=3 available=3 unavailable=0 Available=True/MinimumReplicasAvailable Progressing=True/NewReplicaSetAvailable",
		}},
		{name: "no progress past the deadline", objects: []runtime.Object{stuck, rs(stuck, "v1", 2, 2, 1, 0), rs(stuck, "v2", 2, 0, 2, 1)}, want: []string{
			"update deployments/status replicas=4 updated=2 available=2 unavailable=2 Available=True/MinimumReplicasAvailable Progressing=False/ProgressDeadlineExceeded",
		}},
		{name: "scaling is proportional", objects: []runtime.Object{scaled, oldScaled, newScaled}, want: []string{
			"update deployments/status replicas=0 updated=0 available=0 unavailable=0 Progressing=True/FoundNewReplicaSet",
			"update replicasets web-v1 replicas=14 rev=1",
			"update replicasets web-v2 replicas=9 rev=2",
			"update deployments/status replicas=13 updated=5 available=8 unavailable=15 Available=False/MinimumReplicasUnavailable Progressing=True/FoundNewReplicaSet",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, client := reconcile(t, tt.objects...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("writes\n%q\nwant\n%q", got, tt.want)
			}
			sizes := map[string]int32{}
			for _, a := range client.Actions() {
				if u, ok := a.(clienttesting.UpdateAction); ok && a.GetVerb() == "update" {
					if r, ok := u.GetObject().(*appsv1.ReplicaSet); ok {
						sizes[r.Name] = *r.Spec.Replicas
					}
				}
			}
			t.Logf("replicaset sizes written: %v", sizes)
			switch tt.name {
			case "old replicaset scaled down within maxUnavailable":
				if sizes["web-v1"] != 2 {
					t.Errorf("web-v1 scaled to %d, want 2", sizes["web-v1"])
				}
			case "recreate scales old to zero first":
				if sizes["web-v1"] != 0 {
					t.Errorf("web-v1 scaled to %d, want 0", sizes["web-v1"])
				}
			case "undo reuses the old replicaset with a new revision":
				if sizes["web-v1"] != 1 {
					t.Errorf("web-v1 scaled to %d, want 1", sizes["web-v1"])
				}
			case "scaling is proportional":
				// 23 allowed (20+3), 13 running: 10 to add, shared 8:5 -> +6, +4.
				if sizes["web-v1"] != 14 || sizes["web-v2"] != 9 {
					t.Errorf("sizes %v, want web-v1 14 and web-v2 9", sizes)
				}
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	a, b := template("v1"), template("v2")
	if controller.TemplateHash(&a, nil) == controller.TemplateHash(&b, nil) {
		t.Error("different templates, same hash")
	}
	a2 := template("v1")
	if controller.TemplateHash(&a, nil) != controller.TemplateHash(&a2, nil) {
		t.Error("equal templates, different hashes")
	}
	if controller.TemplateHash(&a, nil) == controller.TemplateHash(&a, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
	a2.Labels["pod-template-hash"] = "x"
	if !equalIgnoreHash(&a, &a2) || equalIgnoreHash(&a, &b) {
		t.Error("equalIgnoreHash")
	}
}

func TestRevisionHistory(t *testing.T) {
	d := newDeployment(3, "v1")
	r := &rollout{d: d}
	set := rs(d, "v1", 0, 0, 1, 0)
	set.Annotations[revisionHistoryAnnotation] = "0"
	if !r.setNewAnnotations(set, "5", true) {
		t.Fatal("no change")
	}
	if set.Annotations[revisionAnnotation] != "5" || set.Annotations[revisionHistoryAnnotation] != "0,1" {
		t.Errorf("annotations %v", set.Annotations)
	}
	if r.setNewAnnotations(set, "5", true) {
		t.Error("changed again")
	}
}
