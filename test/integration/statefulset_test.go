package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// podChange is one change to a pod as a watch delivered it.
type podChange struct {
	rv       int64 // the pod's resourceVersion: the server's order of changes
	kind     watch.EventType
	name     string
	ready    bool // Running and Ready
	deleting bool
}

// podRecorder keeps every pod change in a namespace from the moment it starts.
type podRecorder struct {
	mu     sync.Mutex
	events []podChange
}

func recordPodChanges(t *testing.T, c *cluster, ns string) *podRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := &podRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv, _ := strconv.ParseInt(p.ResourceVersion, 10, 64)
			r.mu.Lock()
			r.events = append(r.events, podChange{rv: rv, kind: ev.Type, name: p.Name,
				ready: p.Status.Phase == corev1.PodRunning && isReady(p), deleting: p.DeletionTimestamp != nil})
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); cancel(); <-done })
	return r
}

// await waits until a change after resourceVersion after satisfies f, and returns the
// resourceVersion of the first such change. The recorder's watch may lag behind what other
// clients already see, so it is polled.
func (r *podRecorder) await(t *testing.T, after int64, what string, f func(podChange) bool) int64 {
	t.Helper()
	var found int64 = -1
	eventually(t, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.events {
			if e.rv > after && f(e) {
				found = e.rv
				return true
			}
		}
		return false
	})
	return found
}

// podsResourceVersion returns the server's current resourceVersion: every later change has a
// greater one.
func podsResourceVersion(t *testing.T, c *cluster, ns string) int64 {
	t.Helper()
	list, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := strconv.ParseInt(list.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

func podAdded(name string) func(podChange) bool {
	return func(e podChange) bool { return e.kind == watch.Added && e.name == name }
}

func podBecameReady(name string) func(podChange) bool {
	return func(e podChange) bool { return e.name == name && e.ready && !e.deleting }
}

func podStartedDeleting(name string) func(podChange) bool {
	return func(e podChange) bool { return e.name == name && (e.deleting || e.kind == watch.Deleted) }
}

func newStatefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func TestStatefulSet(t *testing.T) {
	c := startCluster(t)
	opts := simulate.DefaultOptions()
	opts.Nodes = 2
	opts.PodStartDelay = 100 * time.Millisecond
	runSimulator(t, c, opts)
	const ns = "stateful"
	createNamespace(t, c, ns)
	ctx := context.Background()
	pods := c.client.CoreV1().Pods(ns)
	claims := c.client.CoreV1().PersistentVolumeClaims(ns)
	sets := c.client.AppsV1().StatefulSets(ns)
	rec := recordPodChanges(t, c, ns)

	getSet := func(t *testing.T) *appsv1.StatefulSet {
		t.Helper()
		s, err := sets.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	getPod := func(t *testing.T, name string) *corev1.Pod {
		t.Helper()
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	claimUID := func(t *testing.T, name string) types.UID {
		t.Helper()
		pvc, err := claims.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("claim %s: %v", name, err)
		}
		return pvc.UID
	}
	rolloutStatus := func(t *testing.T, want string) {
		t.Helper()
		out := c.kubectl("-n", ns, "rollout", "status", "statefulset/web", "--timeout=60s")
		if !strings.Contains(out, want) {
			t.Fatalf("rollout status: %s\nwant %q", out, want)
		}
	}
	readyWith := func(name, image string) func() bool {
		return func() bool {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			return err == nil && p.DeletionTimestamp == nil && isReady(p) && p.Spec.Containers[0].Image == image
		}
	}

	if _, err := sets.Create(ctx, newStatefulSet(ns, "web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	claimUIDs := map[string]types.UID{}

	t.Run("ordered creation", func(t *testing.T) {
		rolloutStatus(t, "partitioned roll out complete: 3 new pods have been updated")
		for i := 1; i < 3; i++ {
			prev, name := fmt.Sprintf("web-%d", i-1), fmt.Sprintf("web-%d", i)
			ready := rec.await(t, 0, prev+" ready", podBecameReady(prev))
			create := rec.await(t, 0, name+" added", podAdded(name))
			if create < ready {
				t.Errorf("%s added at resourceVersion %d, %s ready at %d: want it added only after", name, create, prev, ready)
			}
		}
		set := getSet(t)
		st := set.Status
		if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 ||
			st.ObservedGeneration != set.Generation || st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision ||
			st.CollisionCount == nil || *st.CollisionCount != 0 {
			t.Errorf("status %+v", st)
		}
		rev, err := c.client.AppsV1().ControllerRevisions(ns).Get(ctx, st.UpdateRevision, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(rev); rev.Revision != 1 || ref == nil || ref.UID != set.UID {
			t.Errorf("revision %s: number %d, controller %v", rev.Name, rev.Revision, ref)
		}
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			p := getPod(t, name)
			for k, want := range map[string]string{"statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": fmt.Sprint(i),
				"controller-revision-hash": st.UpdateRevision, "app": "web"} {
				if p.Labels[k] != want {
					t.Errorf("%s: label %s = %q, want %q", name, k, p.Labels[k], want)
				}
			}
			if p.Spec.Hostname != name || p.Spec.Subdomain != "web" {
				t.Errorf("%s: hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
			}
			claim := "www-" + name
			if !slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool {
				return v.Name == "www" && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim
			}) {
				t.Errorf("%s: volumes %+v, want www from claim %s", name, p.Spec.Volumes, claim)
			}
			if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != set.UID {
				t.Errorf("%s: controller %v", name, ref)
			}
			claimUIDs[claim] = claimUID(t, claim)
		}
		// kubectl describe shows what the controller did, in upstream's words (v1.37 titles the
		// verb).
		eventually(t, "events on the set", func() bool {
			list, err := c.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
			if err != nil {
				return false
			}
			var seen []string
			for _, e := range list.Items {
				seen = append(seen, e.Reason+": "+e.Message)
			}
			return slices.Contains(seen, "SuccessfulCreate: Create Pod web-2 in StatefulSet web successful") &&
				slices.Contains(seen, "SuccessfulCreate: Create Claim www-web-2 Pod web-2 in StatefulSet web success")
		})
	})

	t.Run("deleted pod comes back with the same name and claim", func(t *testing.T) {
		old := getPod(t, "web-1")
		if err := pods.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "web-1 recreated and ready", func() bool {
			p, err := pods.Get(ctx, "web-1", metav1.GetOptions{})
			return err == nil && p.UID != old.UID && isReady(p)
		})
		if uid := claimUID(t, "www-web-1"); uid != claimUIDs["www-web-1"] {
			t.Errorf("claim www-web-1 was replaced")
		}
		rolloutStatus(t, "partitioned roll out complete: 3 new pods have been updated")
	})

	t.Run("partitioned update changes only web-2", func(t *testing.T) {
		before := map[string]types.UID{"web-0": getPod(t, "web-0").UID, "web-1": getPod(t, "web-1").UID}
		oldRevision := getSet(t).Status.CurrentRevision
		patch := `{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}},"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}}`
		if _, err := sets.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		rolloutStatus(t, "partitioned roll out complete: 1 new pods have been updated")
		set := getSet(t)
		st := set.Status
		if st.UpdatedReplicas != 1 || st.CurrentReplicas != 2 || st.CurrentRevision != oldRevision || st.UpdateRevision == oldRevision {
			t.Errorf("status %+v", st)
		}
		if p := getPod(t, "web-2"); p.Labels["controller-revision-hash"] != st.UpdateRevision || p.Spec.Containers[0].Image != "nginx:2" {
			t.Errorf("web-2 at %s with %s", p.Labels["controller-revision-hash"], p.Spec.Containers[0].Image)
		}
		for name, uid := range before {
			if p := getPod(t, name); p.UID != uid || p.Labels["controller-revision-hash"] != oldRevision || p.Spec.Containers[0].Image != "nginx:1" {
				t.Errorf("%s was replaced or changed: revision %s image %s", name, p.Labels["controller-revision-hash"], p.Spec.Containers[0].Image)
			}
		}
		if uid := claimUID(t, "www-web-2"); uid != claimUIDs["www-web-2"] {
			t.Errorf("claim www-web-2 was replaced")
		}
	})

	t.Run("update completes from the highest ordinal down", func(t *testing.T) {
		mark := podsResourceVersion(t, c, ns)
		if _, err := sets.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		rolloutStatus(t, "partitioned roll out complete: 3 new pods have been updated")
		one := rec.await(t, mark, "web-1 deleted", podStartedDeleting("web-1"))
		oneReady := rec.await(t, one, "web-1 ready again", podBecameReady("web-1"))
		zero := rec.await(t, mark, "web-0 deleted", podStartedDeleting("web-0"))
		if zero < oneReady {
			t.Errorf("web-1 deleted at resourceVersion %d and ready again at %d, web-0 deleted at %d: want web-0 only after web-1 is back", one, oneReady, zero)
		}
		st := getSet(t).Status
		if st.CurrentRevision != st.UpdateRevision || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
			t.Errorf("status %+v", st)
		}
		for i := range 3 {
			if p := getPod(t, fmt.Sprintf("web-%d", i)); p.Spec.Containers[0].Image != "nginx:2" {
				t.Errorf("%s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
		}
	})

	t.Run("rollout history and undo", func(t *testing.T) {
		out := c.kubectl("-n", ns, "rollout", "history", "statefulset/web")
		if !regexpLines(out, "1", "2") {
			t.Errorf("rollout history:\n%s", out)
		}
		out = c.kubectl("-n", ns, "rollout", "history", "statefulset/web", "--revision=1")
		if !strings.Contains(out, "nginx:1") {
			t.Errorf("rollout history --revision=1:\n%s", out)
		}
		c.kubectl("-n", ns, "rollout", "undo", "statefulset/web")
		rolloutStatus(t, "partitioned roll out complete: 3 new pods have been updated")
		for i := range 3 {
			eventually(t, fmt.Sprintf("web-%d back on nginx:1", i), readyWith(fmt.Sprintf("web-%d", i), "nginx:1"))
		}
		// The first revision is renumbered rather than copied.
		out = c.kubectl("-n", ns, "rollout", "history", "statefulset/web")
		if !regexpLines(out, "2", "3") {
			t.Errorf("rollout history after undo:\n%s", out)
		}
	})

	t.Run("scale down removes the highest ordinal first and keeps claims", func(t *testing.T) {
		mark := podsResourceVersion(t, c, ns)
		c.kubectl("-n", ns, "scale", "statefulset/web", "--replicas=1")
		eventually(t, "web-1 and web-2 gone", func() bool {
			list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			return err == nil && len(list.Items) == 1 && list.Items[0].Name == "web-0"
		})
		two := rec.await(t, mark, "web-2 deleted", podStartedDeleting("web-2"))
		twoGone := rec.await(t, mark, "web-2 gone", func(e podChange) bool { return e.kind == watch.Deleted && e.name == "web-2" })
		one := rec.await(t, mark, "web-1 deleted", podStartedDeleting("web-1"))
		if one < twoGone {
			t.Errorf("web-2 deleted at resourceVersion %d (gone at %d), web-1 at %d: want web-1 only after web-2 is gone", two, twoGone, one)
		}
		for claim, uid := range claimUIDs {
			if claimUID(t, claim) != uid {
				t.Errorf("claim %s was replaced", claim)
			}
		}
		st := getSet(t).Status
		if st.Replicas != 1 || st.ReadyReplicas != 1 {
			t.Errorf("status %+v", st)
		}
		c.kubectl("-n", ns, "scale", "statefulset/web", "--replicas=3")
		rolloutStatus(t, "partitioned roll out complete: 3 new pods have been updated")
		for claim, uid := range claimUIDs {
			if claimUID(t, claim) != uid {
				t.Errorf("claim %s was replaced after scaling up", claim)
			}
		}
	})

	t.Run("failed pod is replaced", func(t *testing.T) {
		p := getPod(t, "web-2")
		p.Status.Phase = corev1.PodFailed
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "web-2 replaced and ready", func() bool {
			np, err := pods.Get(ctx, "web-2", metav1.GetOptions{})
			return err == nil && np.UID != p.UID && isReady(np)
		})
	})
}

// TestStatefulSetParallelRetention checks podManagementPolicy Parallel and the claim
// retention policy Delete: claims of scaled-away pods and of a deleted set are removed.
func TestStatefulSetParallelRetention(t *testing.T) {
	c := startCluster(t)
	opts := simulate.DefaultOptions()
	opts.Nodes = 1
	opts.PodStartDelay = 100 * time.Millisecond
	runSimulator(t, c, opts)
	const ns = "parallel"
	createNamespace(t, c, ns)
	ctx := context.Background()
	pods := c.client.CoreV1().Pods(ns)
	claims := c.client.CoreV1().PersistentVolumeClaims(ns)

	set := newStatefulSet(ns, "db", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	// Pods that never become ready: with Parallel, all are created anyway.
	set.Spec.Template.Spec.NodeSelector = map[string]string{"no-such-node": "true"}
	created, err := c.client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "db-5, db-6 and db-7 created", func() bool {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
		if err != nil || len(list.Items) != 3 {
			return false
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"db-5", "db-6", "db-7"})
	})
	eventually(t, "claims owned by the set", func() bool {
		for _, name := range []string{"www-db-5", "www-db-6", "www-db-7"} {
			pvc, err := claims.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			if ref := metav1.GetControllerOf(pvc); ref == nil || ref.UID != created.UID {
				return false
			}
		}
		return true
	})

	c.kubectl("-n", ns, "scale", "statefulset/db", "--replicas=1")
	eventually(t, "claims of db-6 and db-7 removed with their pods", func() bool {
		_, err6 := claims.Get(ctx, "www-db-6", metav1.GetOptions{})
		_, err7 := claims.Get(ctx, "www-db-7", metav1.GetOptions{})
		return apierrors.IsNotFound(err6) && apierrors.IsNotFound(err7)
	})
	if _, err := claims.Get(ctx, "www-db-5", metav1.GetOptions{}); err != nil {
		t.Errorf("claim of the remaining pod: %v", err)
	}

	if err := c.client.AppsV1().StatefulSets(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "claim of db-5 removed with the set", func() bool {
		_, err := claims.Get(ctx, "www-db-5", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
