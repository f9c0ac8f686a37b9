package nodeipam

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func node(name, cidr string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "7"}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	return n
}

// start runs a controller over client until the test ends.
func start(t *testing.T, client *fake.Clientset, cluster string) *record.FakeRecorder {
	t.Helper()
	recorder := record.NewFakeRecorder(100)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, recorder, Options{ClusterCIDR: netip.MustParsePrefix(cluster),
		ServiceCIDR: netip.MustParsePrefix("100.65.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	factory.Start(ctx.Done())
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		factory.Shutdown()
	})
	return recorder
}

// waitNode waits until the named Node satisfies ok.
func waitNode(t *testing.T, client *fake.Clientset, name, what string, ok func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %s: timed out (last %+v, %v)", name, what, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasCIDR(n *corev1.Node) bool { return n.Spec.PodCIDR != "" }

// cidrPatches are the pod CIDR patches client received, per node.
func cidrPatches(client *fake.Clientset) map[string][]string {
	out := map[string][]string{}
	for _, a := range client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && a.GetResource().Resource == "nodes" && a.GetSubresource() == "" {
			out[p.GetName()] = append(out[p.GetName()], string(p.GetPatch()))
		}
	}
	return out
}

func TestAssignsFreeRanges(t *testing.T) {
	// a and b hold ranges from before a restart (or a previous leader); c and d are new.
	client := fake.NewClientset(node("a", "100.64.0.0/24"), node("b", "100.64.2.0/24"), node("c", ""), node("d", ""))
	start(t, client, "100.64.0.0/16")
	var got []string
	for _, name := range []string{"c", "d"} {
		n := waitNode(t, client, name, "pod CIDR", hasCIDR)
		if !slices.Equal(n.Spec.PodCIDRs, []string{n.Spec.PodCIDR}) {
			t.Errorf("node %s: podCIDR %s, podCIDRs %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		got = append(got, n.Spec.PodCIDR)
	}
	slices.Sort(got)
	if want := []string{"100.64.1.0/24", "100.64.3.0/24"}; !slices.Equal(got, want) {
		t.Errorf("new nodes got %v, want %v (never a range a node already holds)", got, want)
	}
	patches := cidrPatches(client)
	if len(patches["a"])+len(patches["b"]) > 0 {
		t.Errorf("nodes with a range were patched: %v", patches)
	}
	for _, name := range []string{"c", "d"} {
		if len(patches[name]) != 1 || !strings.Contains(patches[name][0], `"resourceVersion":"7"`) {
			t.Errorf("patches of %s: %v, want one carrying resourceVersion 7", name, patches[name])
		}
	}
}

func TestConflictWritesTheSameRange(t *testing.T) {
	client := fake.NewClientset(node("a", ""))
	conflicts := 1
	client.PrependReactor("patch", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "a", nil)
		}
		return false, nil, nil
	})
	start(t, client, "100.64.0.0/16")
	n := waitNode(t, client, "a", "pod CIDR", hasCIDR)
	if n.Spec.PodCIDR != "100.64.0.0/24" {
		t.Errorf("pod CIDR %s, want 100.64.0.0/24", n.Spec.PodCIDR)
	}
	if p := cidrPatches(client)["a"]; len(p) != 2 || p[0] != p[1] {
		t.Errorf("patches %v, want the same patch twice", p)
	}
}

func TestExhaustedRange(t *testing.T) {
	client := fake.NewClientset(node("a", ""), node("b", ""))
	recorder := start(t, client, "100.64.0.0/23")
	waitNode(t, client, "a", "pod CIDR", hasCIDR)
	waitNode(t, client, "b", "pod CIDR", hasCIDR)

	if _, err := client.CoreV1().Nodes().Create(context.Background(), node("c", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unavailable := func(status corev1.ConditionStatus, reason string) func(*corev1.Node) bool {
		return func(n *corev1.Node) bool {
			c := networkCondition(n)
			return c != nil && c.Status == status && c.Reason == reason
		}
	}
	waitNode(t, client, "c", "NetworkUnavailable=True", unavailable(corev1.ConditionTrue, reasonCIDRNotAvailable))
	select {
	case e := <-recorder.Events:
		if want := "Normal CIDRNotAvailable Node c status is now: CIDRNotAvailable"; e != want {
			t.Errorf("event %q, want %q", e, want)
		}
	case <-time.After(5 * time.Second):
		t.Error("no CIDRNotAvailable event")
	}

	// Deleting a node frees its range for the one waiting.
	a, _ := client.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{})
	if err := client.CoreV1().Nodes().Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := waitNode(t, client, "c", "pod CIDR", hasCIDR)
	if c.Spec.PodCIDR != a.Spec.PodCIDR {
		t.Errorf("c got %s, want a's freed %s", c.Spec.PodCIDR, a.Spec.PodCIDR)
	}
	waitNode(t, client, "c", "NetworkUnavailable=False", unavailable(corev1.ConditionFalse, reasonCIDRAssigned))
}

func TestNewRejectsBadOptions(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	if _, err := New(client, factory, record.NewFakeRecorder(1), Options{ClusterCIDR: netip.MustParsePrefix("100.64.0.0/16"), NodeMaskSize: 8}); err == nil {
		t.Error("a node mask shorter than the cluster's was accepted")
	}
}
