package statefulset

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testSet is a StatefulSet as the API server returns it, defaults filled in.
func testSet(n int32, image string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(n),
			ServiceName:         "web",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			RevisionHistoryLimit: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
		},
	}
}

// revisionFor returns the revision that set's template makes, numbered n.
func revisionFor(t *testing.T, set *appsv1.StatefulSet, n int64) *appsv1.ControllerRevision {
	t.Helper()
	r, err := newRevision(set, n, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	r.Namespace = set.Namespace
	return r
}

// testPod builds pod <set>-<i> of set at revision rev; state is "pending", "notready",
// "ready" or "failed".
func testPod(set *appsv1.StatefulSet, i int, rev *appsv1.ControllerRevision, state string) *corev1.Pod {
	p := newPod(set, i, rev.Name)
	p.UID = ktypes.UID(fmt.Sprintf("uid-%s", p.Name))
	p.Spec.NodeName = "n1"
	switch state {
	case "pending":
		p.Status.Phase = corev1.PodPending
	case "notready":
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	case "ready":
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(epoch)}}
	case "failed":
		p.Status.Phase = corev1.PodFailed
	}
	return p
}

// testClaim is the claim set made for pod i.
func testClaim(set *appsv1.StatefulSet, i int) *corev1.PersistentVolumeClaim {
	c := claimsFor(set, newPod(set, i, ""))[0]
	c.UID = ktypes.UID("uid-" + c.Name)
	return c
}

func fixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, events.NewFakeRecorder(100))
	c.now = func() time.Time { return epoch.Add(time.Hour) }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return c, client
}

// writes describes the client's writes in a stable order.
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case clienttesting.CreateAction:
			switch o := a.GetObject().(type) {
			case *corev1.Pod:
				if a.GetVerb() == "create" {
					s += fmt.Sprintf(" %s rev=%s image=%s", o.Name, o.Labels[appsv1.StatefulSetRevisionLabel], o.Spec.Containers[0].Image)
				} else {
					s += fmt.Sprintf(" %s owners=%s", o.Name, owners(o.OwnerReferences))
				}
			case *corev1.PersistentVolumeClaim:
				s += fmt.Sprintf(" %s owners=%s", o.Name, owners(o.OwnerReferences))
			case *appsv1.ControllerRevision:
				s += fmt.Sprintf(" %s revision=%d", o.Name, o.Revision)
			case *appsv1.StatefulSet:
				st := o.Status
				s += fmt.Sprintf(" replicas=%d ready=%d available=%d current=%d updated=%d currentRevision=%s updateRevision=%s gen=%d",
					st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas,
					st.CurrentRevision, st.UpdateRevision, st.ObservedGeneration)
			}
		case clienttesting.DeleteAction:
			s += " " + a.GetName()
		case clienttesting.PatchAction:
			s += " " + a.GetName()
		default:
			continue
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func owners(refs []metav1.OwnerReference) string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Kind+"/"+r.Name)
	}
	return strings.Join(out, ",")
}

func status(replicas, ready, current, updated int, currentRev, updateRev *appsv1.ControllerRevision) string {
	return fmt.Sprintf("update statefulsets/status replicas=%d ready=%d available=%d current=%d updated=%d currentRevision=%s updateRevision=%s gen=2",
		replicas, ready, ready, current, updated, currentRev.Name, updateRev.Name)
}

func TestReconcile(t *testing.T) {
	v1 := testSet(3, "nginx:1")
	r1 := revisionFor(t, v1, 1)
	v2 := testSet(3, "nginx:2")
	v2.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](1)
	v2.Status.CurrentRevision = r1.Name
	r2 := revisionFor(t, v2, 2)
	claims := func(set *appsv1.StatefulSet, n int) []runtime.Object {
		var out []runtime.Object
		for i := range n {
			out = append(out, testClaim(set, i))
		}
		return out
	}
	with := func(set *appsv1.StatefulSet, f func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
		set = set.DeepCopy()
		f(set)
		return set
	}
	terminating := testPod(v1, 2, r1, "ready")
	terminating.DeletionTimestamp = ptr.To(metav1.NewTime(epoch))
	orphan := testPod(v1, 0, r1, "ready")
	orphan.OwnerReferences = nil
	stranger := testPod(v1, 0, r1, "ready")
	stranger.Name, stranger.OwnerReferences = "other", nil
	staleClaim := testClaim(v1, 1)
	staleClaim.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-1", UID: "earlier-web-1", Controller: ptr.To(true)}}
	old := func(image string, n int64) *appsv1.ControllerRevision { return revisionFor(t, testSet(3, image), n) }
	orphanRevision := r1.DeepCopy()
	orphanRevision.OwnerReferences = nil

	tests := []struct {
		name    string
		objects []runtime.Object
		want    []string
	}{
		{name: "a new set gets its first revision, claim and pod web-0", objects: []runtime.Object{v1}, want: []string{
			"create controllerrevisions " + r1.Name + " revision=1",
			"create persistentvolumeclaims www-web-0 owners=",
			"create pods web-0 rev=" + r1.Name + " image=nginx:1",
			status(0, 0, 0, 0, r1, r1)}},
		{name: "ordered: web-1 waits for web-0 to be ready", objects: append([]runtime.Object{v1, r1,
			testPod(v1, 0, r1, "notready")}, claims(v1, 1)...), want: []string{
			status(1, 0, 1, 1, r1, r1)}},
		{name: "ordered: web-1 once web-0 is ready", objects: append([]runtime.Object{v1, r1,
			testPod(v1, 0, r1, "ready")}, claims(v1, 1)...), want: []string{
			"create persistentvolumeclaims www-web-1 owners=",
			"create pods web-1 rev=" + r1.Name + " image=nginx:1",
			status(1, 1, 1, 1, r1, r1)}},
		{name: "parallel: every pod at once", objects: []runtime.Object{r1, with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		})}, want: []string{
			"create persistentvolumeclaims www-web-0 owners=", "create persistentvolumeclaims www-web-1 owners=",
			"create persistentvolumeclaims www-web-2 owners=",
			"create pods web-0 rev=" + r1.Name + " image=nginx:1", "create pods web-1 rev=" + r1.Name + " image=nginx:1",
			"create pods web-2 rev=" + r1.Name + " image=nginx:1",
			status(0, 0, 0, 0, r1, r1)}},
		{name: "ordinals start at spec.ordinals.start", objects: []runtime.Object{r1, with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 4}
		})}, want: []string{
			"create persistentvolumeclaims www-web-4 owners=",
			"create pods web-4 rev=" + r1.Name + " image=nginx:1",
			status(0, 0, 0, 0, r1, r1)}},
		{name: "a failed pod is deleted, to be made again", objects: append([]runtime.Object{v1, r1,
			testPod(v1, 0, r1, "failed")}, claims(v1, 1)...), want: []string{
			"delete pods web-0",
			status(1, 0, 1, 1, r1, r1)}},
		{name: "scale down removes the highest ordinal only", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
		}), r1, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			"delete pods web-2",
			status(3, 3, 3, 3, r1, r1)}},
		{name: "scale down waits for a terminating pod", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
		}), r1, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), terminating}, claims(v1, 3)...), want: []string{
			status(3, 3, 2, 2, r1, r1)}},
		{name: "whenScaled=Delete hands a condemned pod's claim to the pod", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		}), r1, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready")}, claims(v1, 2)...), want: []string{
			"update persistentvolumeclaims www-web-1 owners=Pod/web-1",
			"delete pods web-1",
			status(2, 2, 2, 2, r1, r1)}},
		{name: "whenDeleted=Delete gives claims to the set", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}
		}), r1, testPod(v1, 0, r1, "ready")}, claims(v1, 1)...), want: []string{
			"update persistentvolumeclaims www-web-0 owners=StatefulSet/web",
			status(1, 1, 1, 1, r1, r1)}},
		{name: "rolling update starts at the highest ordinal", objects: append([]runtime.Object{v2, r1,
			testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			"create controllerrevisions " + r2.Name + " revision=2",
			"delete pods web-2",
			status(3, 3, 2, 0, r1, r2)}},
		{name: "rolling update waits for the updated pod to be ready", objects: append([]runtime.Object{v2, r1, r2,
			testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v2, 2, r2, "notready")}, claims(v1, 3)...), want: []string{
			status(3, 2, 2, 1, r1, r2)}},
		{name: "rolling update goes on down to the partition", objects: append([]runtime.Object{v2, r1, r2,
			testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v2, 2, r2, "ready")}, claims(v1, 3)...), want: []string{
			"delete pods web-1",
			status(3, 3, 1, 1, r1, r2)}},
		{name: "pods below the partition keep the current revision", objects: append([]runtime.Object{v2, r1, r2,
			testPod(v1, 0, r1, "ready"), testPod(v2, 1, r2, "ready"), testPod(v2, 2, r2, "ready")}, claims(v1, 3)...), want: []string{
			status(3, 3, 1, 2, r1, r2)}},
		{name: "a missing pod below the partition is made at the current revision", objects: append([]runtime.Object{with(v2, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
		}), r1, r2, testPod(v1, 0, r1, "ready"), testPod(v2, 2, r2, "ready")}, claims(v1, 3)...), want: []string{
			"create pods web-1 rev=" + r1.Name + " image=nginx:1",
			status(2, 2, 1, 1, r1, r2)}},
		{name: "maxUnavailable 2 updates two pods at once", objects: append([]runtime.Object{with(v2, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(2))}
		}), r1, r2, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			"delete pods web-1", "delete pods web-2",
			status(3, 3, 1, 0, r1, r2)}},
		{name: "parallel: broken old pods are replaced first, within maxUnavailable", objects: append([]runtime.Object{with(v2, func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0)
		}), r1, r2, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "notready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			"delete pods web-1",
			status(3, 2, 2, 0, r1, r2)}},
		{name: "OnDelete leaves old pods alone", objects: append([]runtime.Object{with(v2, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), r1, r2, testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			status(3, 3, 3, 0, r1, r2)}},
		{name: "the update completes when every pod is updated and ready", objects: append([]runtime.Object{v2, r1, r2,
			testPod(v2, 0, r2, "ready"), testPod(v2, 1, r2, "ready"), testPod(v2, 2, r2, "ready")}, claims(v1, 3)...), want: []string{
			status(3, 3, 3, 3, r2, r2)}},
		{name: "back to an old template renumbers its revision", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Status.CurrentRevision = r2.Name
		}), r1, r2, testPod(v2, 0, r2, "ready"), testPod(v2, 1, r2, "ready"), testPod(v2, 2, r2, "ready")}, claims(v1, 3)...), want: []string{
			"update controllerrevisions " + r1.Name + " revision=3",
			"delete pods web-2",
			status(3, 3, 2, 0, r2, r1)}},
		{name: "a claim still owned by an earlier pod blocks the new one", objects: []runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		}), r1, testPod(v1, 0, r1, "ready"), testClaim(v1, 0), staleClaim}, want: []string{
			status(1, 1, 1, 1, r1, r1)}},
		{name: "history beyond the limit goes, oldest first", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.RevisionHistoryLimit = ptr.To[int32](1)
		}), old("a", 1), old("b", 2), old("c", 3), revisionFor(t, v1, 4),
			testPod(v1, 0, r1, "ready"), testPod(v1, 1, r1, "ready"), testPod(v1, 2, r1, "ready")}, claims(v1, 3)...), want: []string{
			"delete controllerrevisions " + old("a", 1).Name, "delete controllerrevisions " + old("b", 2).Name,
			status(3, 3, 3, 3, r1, r1)}},
		{name: "adopts orphan revisions and member pods, not other pods", objects: append([]runtime.Object{with(v1, func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
		}), orphanRevision, orphan, stranger}, claims(v1, 1)...), want: []string{
			"patch controllerrevisions " + r1.Name,
			"update pods web-0 owners=StatefulSet/web",
			status(1, 1, 1, 1, r1, r1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, client := fixture(t, tt.objects...)
			if err := c.Reconcile(context.Background(), "ns/web"); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if got := writes(client); !slices.Equal(got, want) {
				t.Errorf("writes\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestMinReadySeconds checks that OrderedReady waits for availability, not only readiness,
// and that the set is looked at again when the pod becomes available.
func TestMinReadySeconds(t *testing.T) {
	set := testSet(2, "nginx:1")
	set.Spec.MinReadySeconds = 10
	r := revisionFor(t, set, 1)
	pod := testPod(set, 0, r, "ready")
	pod.Status.Conditions[0].LastTransitionTime = metav1.NewTime(epoch.Add(time.Hour - 4*time.Second))
	c, client := fixture(t, set, r, pod, testClaim(set, 0))
	err := c.Reconcile(context.Background(), "ns/web")
	if err == nil || err.Error() != "requeue after 6s" {
		t.Errorf("reconcile: %v, want a requeue after 6s", err)
	}
	want := []string{"update statefulsets/status replicas=1 ready=1 available=0 current=1 updated=1 currentRevision=" + r.Name +
		" updateRevision=" + r.Name + " gen=2"}
	if got := writes(client); !slices.Equal(got, want) {
		t.Errorf("writes\n%q\nwant\n%q", got, want)
	}
}

// TestRevisionData checks that a revision holds a strategic merge patch replacing the
// template, as kubectl rollout undo applies it, and that applying it restores the template.
func TestRevisionData(t *testing.T) {
	set := testSet(1, "nginx:1")
	r := revisionFor(t, set, 1)
	want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"web"}},` +
		`"spec":{"containers":[{"image":"nginx:1","name":"app","resources":{}}]}}}}`
	if string(r.Data.Raw) != want {
		t.Errorf("data\n%s\nwant\n%s", r.Data.Raw, want)
	}
	if !strings.HasPrefix(r.Name, "web-") || r.Labels["controller.kubernetes.io/hash"] != strings.TrimPrefix(r.Name, "web-") {
		t.Errorf("revision %s labels %v", r.Name, r.Labels)
	}
	changed := testSet(1, "nginx:2")
	changed.Spec.Template.Labels["extra"] = "x"
	restored, err := applyRevision(changed, r)
	if err != nil {
		t.Fatal(err)
	}
	if img := restored.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" || restored.Spec.Template.Labels["extra"] != "" {
		t.Errorf("restored template %+v", restored.Spec.Template)
	}
}

// TestEvents checks the events a create records on the set, in upstream's words.
func TestEvents(t *testing.T) {
	client := fake.NewClientset(testSet(1, "nginx:1"))
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := events.NewFakeRecorder(10)
	c := New(client, factory, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced...)
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	want := []string{"Normal SuccessfulCreate Create Claim www-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate Create Pod web-0 in StatefulSet web successful"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestCollision checks that a revision name taken by other data moves the new revision to
// another name and counts the collision in status.
func TestCollision(t *testing.T) {
	set := testSet(0, "nginx:1")
	r := revisionFor(t, set, 1)
	taken := r.DeepCopy()
	taken.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "other", UID: "other-uid", Controller: ptr.To(true)}}
	taken.Data.Raw = []byte(`{"other":true}`)
	c, client := fixture(t, set, taken)
	if err := c.Reconcile(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().StatefulSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Status; st.CollisionCount == nil || *st.CollisionCount != 1 || st.UpdateRevision == r.Name || !strings.HasPrefix(st.UpdateRevision, "web-") {
		t.Errorf("status: collisionCount %v updateRevision %s (taken: %s)", st.CollisionCount, st.UpdateRevision, r.Name)
	}
	if _, err := client.AppsV1().ControllerRevisions("ns").Get(context.Background(), got.Status.UpdateRevision, metav1.GetOptions{}); err != nil {
		t.Errorf("revision %s: %v", got.Status.UpdateRevision, err)
	}
}
