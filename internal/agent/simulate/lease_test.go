package simulate

import (
	"context"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

func TestRenewLease(t *testing.T) {
	a, client, clk := testAgent(t, nil)
	ctx := context.Background()
	if err := a.registerAll(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-0", metav1.GetOptions{})
	client.ClearActions()

	clk.Step(10 * time.Second)
	if err := a.renewLease(ctx, "sim-0"); !isRequeueAfter(err, 10*time.Second) {
		t.Fatalf("renewLease = %v, want requeue after 10s", err)
	}
	// One write, no read, and only renewTime changes.
	if got, want := actions(client), []string{"update leases sim-0"}; !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}
	upd := client.Actions()[0].(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
	if !upd.Spec.RenewTime.Time.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("renewTime = %v", upd.Spec.RenewTime)
	}
	upd.Spec.RenewTime = before.Spec.RenewTime
	upd.ManagedFields, before.ManagedFields = nil, nil
	if upd.ResourceVersion != before.ResourceVersion || !equalLeases(upd, before) {
		t.Errorf("renewal changed more than renewTime:\n%+v\n%+v", upd, before)
	}
}

func TestRenewLeaseConflictTakesOver(t *testing.T) {
	a, client, clk := testAgent(t, nil)
	ctx := context.Background()
	if err := a.registerAll(ctx); err != nil {
		t.Fatal(err)
	}
	// Someone else writes the Lease: the agent's copy is stale.
	l, _ := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-1", metav1.GetOptions{})
	l.Spec.HolderIdentity = new(string)
	*l.Spec.HolderIdentity = "thief"
	if _, err := client.CoordinationV1().Leases("kube-node-lease").Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "sim-1", nil)
		}
		return false, nil, nil
	})
	client.ClearActions()
	clk.Step(10 * time.Second)
	if err := a.renewLease(ctx, "sim-1"); !isRequeueAfter(err, 10*time.Second) {
		t.Fatalf("renewLease = %v", err)
	}
	want := []string{"update leases sim-1", "create leases sim-1", "get leases sim-1", "update leases sim-1"}
	if got := actions(client); !slices.Equal(got, want) {
		t.Errorf("actions = %v\nwant %v", got, want)
	}
	l, _ = client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-1", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "sim-1" || !l.Spec.RenewTime.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("lease = %+v", l.Spec)
	}
}

func equalLeases(a, b *coordinationv1.Lease) bool {
	return a.Name == b.Name && *a.Spec.HolderIdentity == *b.Spec.HolderIdentity &&
		*a.Spec.LeaseDurationSeconds == *b.Spec.LeaseDurationSeconds && a.Spec.RenewTime.Equal(b.Spec.RenewTime) &&
		slices.Equal(a.OwnerReferences, b.OwnerReferences)
}
