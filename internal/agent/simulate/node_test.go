package simulate

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gantryhq/gantry/internal/controller"
)

func TestNewNode(t *testing.T) {
	a, _, _ := testAgent(t, func(o *Options) {
		o.Nodes = 5
		o.Zones = 2
		o.Arch = "arm64"
		o.Capacity[corev1.ResourceCPU] = resource.MustParse("16")
		o.Labels = map[string]string{"team": "a", corev1.LabelInstanceTypeStable: "m5.large", LabelSimulated: "no"}
		o.Taints = []corev1.Taint{{Key: "dedicated", Value: "sim", Effect: corev1.TaintEffectNoSchedule}}
	})
	now := metav1.NewTime(t0)
	node := newNode(&a.opts, a.order[3], now)

	if node.Name != "sim-3" {
		t.Errorf("name = %q", node.Name)
	}
	wantLabels := map[string]string{
		"kubernetes.io/hostname":           "sim-3",
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "arm64",
		"topology.kubernetes.io/zone":      "zone-b",
		"node.kubernetes.io/instance-type": "m5.large",
		"gantry.dev/simulated":             "true",
		"team":                             "a",
	}
	if !equalMaps(node.Labels, wantLabels) {
		t.Errorf("labels = %v\nwant %v", node.Labels, wantLabels)
	}
	if node.Spec.ProviderID != "gantry-sim://sim-3" || len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("spec = %+v", node.Spec)
	}
	for name, want := range map[corev1.ResourceName]string{"cpu": "16", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"} {
		c, al := node.Status.Capacity[name], node.Status.Allocatable[name]
		if c.String() != want || al.String() != want {
			t.Errorf("%s: capacity %s allocatable %s, want %s", name, c.String(), al.String(), want)
		}
	}
	var types []string
	for _, c := range node.Status.Conditions {
		types = append(types, string(c.Type)+"="+string(c.Status))
		if !c.LastHeartbeatTime.Equal(&now) || !c.LastTransitionTime.Equal(&now) {
			t.Errorf("%s: times %v %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}
	if want := []string{"MemoryPressure=False", "DiskPressure=False", "PIDPressure=False", "Ready=True"}; !slices.Equal(types, want) {
		t.Errorf("conditions = %v, want %v", types, want)
	}
	addr, err := netip.ParseAddr(node.Status.Addresses[0].Address)
	if err != nil || node.Status.Addresses[0].Type != corev1.NodeInternalIP || !netip.MustParsePrefix("198.18.0.0/15").Contains(addr) {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}
	if node.Status.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "sim-3"}) {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}
	info := node.Status.NodeInfo
	if info.KubeletVersion != "v1.37.2-gantry-sim" || info.ContainerRuntimeVersion != "simulated://1" ||
		info.Architecture != "arm64" || info.OperatingSystem != "linux" || len(info.MachineID) != 32 {
		t.Errorf("nodeInfo = %+v", info)
	}
	if other := newNode(&a.opts, a.order[4], now); other.Status.NodeInfo.MachineID == info.MachineID ||
		other.Status.Addresses[0] == node.Status.Addresses[0] || other.Labels["topology.kubernetes.io/zone"] != "zone-a" {
		t.Errorf("nodes 3 and 4 are not told apart: %v %v", other.Status.NodeInfo.MachineID, other.Status.Addresses)
	}
}

func TestSetNodeConditionsKeepsTransitions(t *testing.T) {
	before, now := metav1.NewTime(t0), metav1.NewTime(t0.Add(time.Minute))
	status := corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: before, LastTransitionTime: before},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue, LastHeartbeatTime: before, LastTransitionTime: before},
		{Type: "NetworkUnavailable", Status: corev1.ConditionFalse, LastTransitionTime: before},
	}}
	setNodeConditions(&status, now)
	got := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range status.Conditions {
		got[c.Type] = c
	}
	if c := got[corev1.NodeReady]; !c.LastTransitionTime.Equal(&before) || !c.LastHeartbeatTime.Equal(&now) {
		t.Errorf("Ready kept True: transition %v heartbeat %v", c.LastTransitionTime, c.LastHeartbeatTime)
	}
	if c := got[corev1.NodeDiskPressure]; c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&now) {
		t.Errorf("DiskPressure back to False: %+v", c)
	}
	if _, ok := got["NetworkUnavailable"]; !ok || len(status.Conditions) != 5 {
		t.Errorf("conditions = %+v", status.Conditions)
	}
}

func TestRegisterCreates(t *testing.T) {
	a, client, _ := testAgent(t, nil)
	// The fake tracker gives no UIDs; the owner reference of the Lease needs one.
	client.PrependReactor("create", "nodes", func(act k8stesting.Action) (bool, runtime.Object, error) {
		node := act.(k8stesting.CreateAction).GetObject().(*corev1.Node)
		node.UID = types.UID("uid-" + node.Name)
		return false, nil, nil
	})
	if err := a.registerAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := actions(client)
	slices.Sort(got)
	want := []string{"create leases sim-0", "create leases sim-1", "create leases sim-2", "create nodes sim-0", "create nodes sim-1", "create nodes sim-2", "list leases", "list nodes"}
	if !slices.Equal(got, want) {
		t.Errorf("actions = %v\nwant %v", got, want)
	}
	lease, err := client.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *lease.Spec.HolderIdentity != "sim-1" || *lease.Spec.LeaseDurationSeconds != 40 || !lease.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("lease spec = %+v", lease.Spec)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].Kind != "Node" || lease.OwnerReferences[0].Name != "sim-1" || lease.OwnerReferences[0].UID != "uid-sim-1" {
		t.Errorf("lease owners = %+v", lease.OwnerReferences)
	}
}

func TestRegisterAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		labels  map[string]string
		actions []string
	}{
		{
			// Not labelled as simulated: not listed, so a create is tried first.
			name:   "unlisted node",
			labels: map[string]string{"kubernetes.io/hostname": "sim-0", "keep": "me"},
			actions: []string{"list nodes", "list leases", "create nodes sim-0", "get nodes sim-0", "update nodes sim-0",
				"update nodes/status sim-0", "update leases sim-0"},
		},
		{
			// Listed: one update per object, without reads.
			name:    "listed node",
			labels:  map[string]string{"kubernetes.io/hostname": "sim-0", "keep": "me", LabelSimulated: "true"},
			actions: []string{"list nodes", "list leases", "update nodes sim-0", "update nodes/status sim-0", "update leases sim-0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := metav1.NewTime(t0.Add(-time.Hour))
			existing := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "sim-0", Labels: tc.labels},
				Spec:       corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
					{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastHeartbeatTime: old, LastTransitionTime: old},
				}},
			}
			oldLease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "sim-0", Namespace: "kube-node-lease"}}
			a, client, _ := testAgent(t, func(o *Options) { o.Nodes = 1 }, existing, oldLease)
			if err := a.registerAll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := actions(client); !slices.Equal(got, tc.actions) {
				t.Errorf("actions = %v\nwant %v", got, tc.actions)
			}
			node, _ := client.CoreV1().Nodes().Get(context.Background(), "sim-0", metav1.GetOptions{})
			if node.Labels["keep"] != "me" || node.Labels[LabelSimulated] != "true" || !node.Spec.Unschedulable || len(node.Spec.Taints) != 1 {
				t.Errorf("registering again lost or missed something: %+v %+v", node.Labels, node.Spec)
			}
			if node.Status.Capacity.Cpu().String() != "8" || len(node.Status.Conditions) != 4 || node.Status.Conditions[0].Type != corev1.NodeReady ||
				node.Status.Conditions[0].Status != corev1.ConditionTrue || !node.Status.Conditions[0].LastTransitionTime.Time.Equal(t0) {
				t.Errorf("status = %+v", node.Status)
			}
			lease, _ := client.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), "sim-0", metav1.GetOptions{})
			if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "sim-0" || lease.Spec.LeaseDurationSeconds == nil || !lease.Spec.RenewTime.Time.Equal(t0) {
				t.Errorf("lease not taken over: %+v", lease.Spec)
			}
		})
	}
}

func TestRegisterStopsOnLastingError(t *testing.T) {
	a, client, _ := testAgent(t, nil)
	client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "sim-0", errors.New("no"))
	})
	err := a.registerAll(context.Background())
	if !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want forbidden", err)
	}
}

func TestHeartbeat(t *testing.T) {
	a, client, clk := testAgent(t, nil)
	ctx := context.Background()
	if err := a.registerAll(ctx); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	clk.Step(time.Minute)
	err := a.heartbeat(ctx, "sim-2")
	if !isRequeueAfter(err, time.Minute) {
		t.Fatalf("heartbeat = %v, want requeue after 1m", err)
	}
	if got, want := actions(client), []string{"update nodes/status sim-2"}; !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}
	node, _ := client.CoreV1().Nodes().Get(ctx, "sim-2", metav1.GetOptions{})
	for _, c := range node.Status.Conditions {
		if !c.LastHeartbeatTime.Time.Equal(t0.Add(time.Minute)) || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s: heartbeat %v transition %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}

	// A node deleted behind the agent's back stays deleted.
	if err := client.CoreV1().Nodes().Delete(ctx, "sim-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := a.heartbeat(ctx, "sim-2"); err != nil {
		t.Errorf("heartbeat of a deleted node = %v, want nil (done)", err)
	}
	if err := a.renewLease(ctx, "sim-2"); err != nil {
		t.Errorf("renewal for a deleted node = %v, want nil (done)", err)
	}
	if got, want := actions(client), []string{"update nodes/status sim-2"}; !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}
}

func TestReregistered(t *testing.T) {
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "1"}},
		Spec:       corev1.NodeSpec{ProviderID: "gantry-sim://x", Taints: []corev1.Taint{{Key: "t", Effect: corev1.TaintEffectNoSchedule}}},
	}
	same := want.DeepCopy()
	same.Labels["other"] = "x"
	if reregistered(same, want) != nil {
		t.Error("a node that has all it needs is updated")
	}
	bare := &corev1.Node{}
	got := reregistered(bare, want)
	if got == nil || got.Labels["a"] != "1" || len(got.Spec.Taints) != 1 || got.Spec.ProviderID != "gantry-sim://x" {
		t.Errorf("reregistered = %+v", got)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// isRequeueAfter reports whether err is controller.RequeueAfter(d).
func isRequeueAfter(err error, d time.Duration) bool {
	return err != nil && err.Error() == controller.RequeueAfter(d).Error()
}
