package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// clusterCA returns the PEM of c's cluster CA.
func clusterCA(t *testing.T, c *cluster) []byte {
	t.Helper()
	if len(c.config.CAData) > 0 {
		return c.config.CAData
	}
	caPEM, err := os.ReadFile(c.config.CAFile)
	if err != nil {
		t.Fatalf("read cluster CA: %v", err)
	}
	return caPEM
}

// tree is a Deployment with the ReplicaSet and pods its controllers made for it.
type tree struct {
	deployment *appsv1.Deployment
	replicaSet *appsv1.ReplicaSet
	pods       []corev1.Pod
}

// makeTree creates a Deployment of n pods in ns and waits for the server's controllers to
// create its ReplicaSet and pods. The pods stay Pending: the cluster has no nodes.
func makeTree(t *testing.T, c *cluster, ns, name string, n int32) tree {
	t.Helper()
	ctx := context.Background()
	var tr tree
	var err error
	if tr.deployment, err = c.client.AppsV1().Deployments(ns).Create(ctx, deployment(name, n), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, fmt.Sprintf("deployment %s to get a replicaset and %d pods", name, n), func() bool {
		sets, err := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			t.Fatal(err)
		}
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			t.Fatal(err)
		}
		if len(sets.Items) != 1 || len(pods.Items) != int(n) {
			return false
		}
		tr.replicaSet, tr.pods = &sets.Items[0], pods.Items
		return true
	})
	return tr
}

// gone reports whether get finds nothing.
func gone[T any](t *testing.T, get func(context.Context, string, metav1.GetOptions) (T, error), name string) bool {
	t.Helper()
	_, err := get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("get %s: %v", name, err)
	}
	return apierrors.IsNotFound(err)
}

func TestGarbageCollector(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	t.Run("background", func(t *testing.T) {
		c := c.forTest(t)
		createNamespace(t, c, "gc-background")
		tr := makeTree(t, c, "gc-background", "x", 3)
		c.kubectl("delete", "deployment", "x", "-n", "gc-background")
		eventually(t, "the replicaset and its pods to be collected", func() bool {
			if !gone(t, c.client.AppsV1().ReplicaSets("gc-background").Get, tr.replicaSet.Name) {
				return false
			}
			for _, p := range tr.pods {
				if !gone(t, c.client.CoreV1().Pods("gc-background").Get, p.Name) {
					return false
				}
			}
			return true
		})
	})

	t.Run("orphan", func(t *testing.T) {
		c := c.forTest(t)
		createNamespace(t, c, "gc-orphan")
		tr := makeTree(t, c, "gc-orphan", "x", 2)
		// kubectl waits until the deployment is gone, which takes the collector.
		c.kubectl("delete", "deployment", "x", "-n", "gc-orphan", "--cascade=orphan")
		if !gone(t, c.client.AppsV1().Deployments("gc-orphan").Get, "x") {
			t.Fatal("deployment still there after kubectl delete returned")
		}
		// Give a wrong collector time to do damage.
		time.Sleep(500 * time.Millisecond)
		rs, err := c.client.AppsV1().ReplicaSets("gc-orphan").Get(ctx, tr.replicaSet.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned replicaset: %v", err)
		}
		if len(rs.OwnerReferences) != 0 {
			t.Errorf("orphaned replicaset still has owners %v", rs.OwnerReferences)
		}
		for _, p := range tr.pods {
			got, err := c.client.CoreV1().Pods("gc-orphan").Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("pod of orphaned replicaset: %v", err)
			}
			if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != rs.UID {
				t.Errorf("pod %s owners = %v, want only its replicaset", p.Name, got.OwnerReferences)
			}
		}
	})

	t.Run("foreground", func(t *testing.T) {
		c := c.forTest(t)
		ns := "gc-foreground"
		createNamespace(t, c, ns)
		tr := makeTree(t, c, ns, "x", 2)
		deleted := watchDeletions(t, c, ns)
		c.kubectl("delete", "deployment", "x", "-n", ns, "--cascade=foreground")
		if !gone(t, c.client.AppsV1().Deployments(ns).Get, "x") {
			t.Fatal("deployment still there after kubectl delete returned")
		}
		want := []string{"deployments/x", "replicasets/" + tr.replicaSet.Name}
		for _, p := range tr.pods {
			want = append(want, "pods/"+p.Name)
		}
		revs := deleted(want)
		// Each deletion's revision is when the object left the store: dependents first.
		rsRev, dRev := revs["replicasets/"+tr.replicaSet.Name], revs["deployments/x"]
		for _, p := range tr.pods {
			if revs["pods/"+p.Name] >= rsRev {
				t.Errorf("pod %s deleted at revision %d, after its replicaset (%d)", p.Name, revs["pods/"+p.Name], rsRev)
			}
		}
		if rsRev >= dRev {
			t.Errorf("replicaset deleted at revision %d, after its deployment (%d)", rsRev, dRev)
		}
	})

	t.Run("dangling owner", func(t *testing.T) {
		c := c.forTest(t)
		createNamespace(t, c, "gc-dangling")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stray", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Secret", Name: "never-was", UID: "00000000-0000-0000-0000-000000000001"},
		}}}
		if _, err := c.client.CoreV1().ConfigMaps("gc-dangling").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the config map with a missing owner to be collected", func() bool {
			return gone(t, c.client.CoreV1().ConfigMaps("gc-dangling").Get, "stray")
		})
	})

	t.Run("one owner left", func(t *testing.T) {
		c := c.forTest(t)
		ns := "gc-two-owners"
		createNamespace(t, c, ns)
		var owners []metav1.OwnerReference
		for _, name := range []string{"a", "b"} {
			s, err := c.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			owners = append(owners, metav1.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: name, UID: s.UID})
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", OwnerReferences: owners}}
		if _, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.kubectl("delete", "secret", "a", "-n", ns)
		eventually(t, "the reference to the deleted owner to be removed", func() bool {
			got, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "shared", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("config map with a remaining owner: %v", err)
			}
			return len(got.OwnerReferences) == 1 && got.OwnerReferences[0].Name == "b"
		})
		c.kubectl("delete", "secret", "b", "-n", ns)
		eventually(t, "the config map to go with its last owner", func() bool {
			return gone(t, c.client.CoreV1().ConfigMaps(ns).Get, "shared")
		})
	})
}

// watchDeletions watches deployments, replicasets and pods in ns from now on. The function it
// returns waits until every "resource/name" in want was deleted and returns the revision of
// each deletion.
func watchDeletions(t *testing.T, c *cluster, ns string) func(want []string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	type deletion struct {
		key string
		rev int64
	}
	events := make(chan deletion, 100)
	opts := metav1.ListOptions{}
	watches := map[string]func(context.Context, metav1.ListOptions) (watch.Interface, error){
		"deployments": c.client.AppsV1().Deployments(ns).Watch,
		"replicasets": c.client.AppsV1().ReplicaSets(ns).Watch,
		"pods":        c.client.CoreV1().Pods(ns).Watch,
	}
	for resource, start := range watches {
		w, err := start(ctx, opts)
		if err != nil {
			t.Fatalf("watch %s: %v", resource, err)
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Deleted {
					continue
				}
				m, err := meta.Accessor(ev.Object.(runtime.Object))
				if err != nil {
					continue
				}
				rev, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
				select {
				case events <- deletion{resource + "/" + m.GetName(), rev}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return func(want []string) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		timeout := time.After(30 * time.Second)
		for !allIn(want, got) {
			select {
			case d := <-events:
				got[d.key] = d.rev
			case <-timeout:
				t.Fatalf("deletions seen %v, want all of %v", got, want)
			}
		}
		return got
	}
}

func allIn(keys []string, m map[string]int64) bool {
	return !slices.ContainsFunc(keys, func(k string) bool { _, ok := m[k]; return !ok })
}

func TestNamespaceController(t *testing.T) {
	c := startCluster(t)
	caPEM := clusterCA(t, c)
	ctx := context.Background()

	hasDefaults := func(ns string) bool {
		if _, err := c.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false
		}
		cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == string(caPEM)
	}

	t.Run("every namespace gets the defaults", func(t *testing.T) {
		c := c.forTest(t)
		for _, ns := range []string{"default", "kube-system", "kube-public"} {
			eventually(t, "defaults in "+ns, func() bool { return hasDefaults(ns) })
		}
		c.kubectl("create", "namespace", "fresh")
		eventually(t, "defaults in a new namespace", func() bool { return hasDefaults("fresh") })
	})

	t.Run("defaults are restored", func(t *testing.T) {
		c := c.forTest(t)
		createNamespace(t, c, "restored")
		eventually(t, "defaults", func() bool { return hasDefaults("restored") })
		sa, _ := c.client.CoreV1().ServiceAccounts("restored").Get(ctx, "default", metav1.GetOptions{})
		c.kubectl("delete", "serviceaccount", "default", "-n", "restored")
		eventually(t, "a new default service account", func() bool {
			got, err := c.client.CoreV1().ServiceAccounts("restored").Get(ctx, "default", metav1.GetOptions{})
			return err == nil && got.UID != sa.UID
		})

		cm, err := c.client.CoreV1().ConfigMaps("restored").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["ca.crt"] = "tampered"
		if _, err := c.client.CoreV1().ConfigMaps("restored").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the CA to be restored after an edit", func() bool { return hasDefaults("restored") })
		c.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", "restored")
		eventually(t, "the CA config map to be recreated", func() bool { return hasDefaults("restored") })
	})

	t.Run("deletion empties the namespace", func(t *testing.T) {
		c := c.forTest(t)
		ns := "doomed"
		createNamespace(t, c, ns)
		eventually(t, "defaults", func() bool { return hasDefaults(ns) })
		makeTree(t, c, ns, "web", 2)
		if _, err := c.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}},
		}}
		if _, err := c.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// kubectl waits until the namespace is gone.
		start := time.Now()
		c.kubectl("delete", "namespace", ns, "--timeout=60s")
		t.Logf("namespace deleted in %s", time.Since(start).Round(time.Millisecond))
		if !gone(t, c.client.CoreV1().Namespaces().Get, ns) {
			t.Fatal("namespace still there after kubectl delete returned")
		}
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 0 {
			t.Errorf("%d pods left in the deleted namespace", len(pods.Items))
		}
		// The name can be used again, and the new namespace gets its defaults.
		createNamespace(t, c, ns)
		eventually(t, "defaults in the recreated namespace", func() bool { return hasDefaults(ns) })
	})
}
