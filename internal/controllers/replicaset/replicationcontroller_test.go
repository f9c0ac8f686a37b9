package replicaset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func replicationController(n int32) *corev1.ReplicationController {
	rs := replicaSet(n)
	return &corev1.ReplicationController{
		ObjectMeta: *rs.ObjectMeta.DeepCopy(),
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(n),
			Selector: map[string]string{"app": "web"},
			Template: rs.Spec.Template.DeepCopy(),
		},
	}
}

func TestReplicationControllerConversion(t *testing.T) {
	rc := replicationController(3)
	rc.Spec.MinReadySeconds = 5
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 2,
		Conditions: []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure,
			Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota", LastTransitionTime: metav1.NewTime(epoch)}},
	}
	rs := replicaSetFromRC(rc)
	if got := rs.Spec.Selector.MatchLabels["app"]; got != "web" || len(rs.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("selector %v, want matchLabels app=web", rs.Spec.Selector)
	}
	if rs.Spec.Template.Labels["tier"] != "front" || *rs.Spec.Replicas != 3 || rs.Spec.MinReadySeconds != 5 {
		t.Errorf("spec %+v not carried over", rs.Spec)
	}
	if len(rs.Status.Conditions) != 1 || rs.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure ||
		rs.Status.AvailableReplicas != 1 || rs.Status.FullyLabeledReplicas != 2 {
		t.Errorf("status %+v not carried over", rs.Status)
	}
	if back := rcFromReplicaSet(rs); !apiequality.Semantic.DeepEqual(back, rc) {
		t.Errorf("round trip\n%+v\nwant\n%+v", back, rc)
	}
}

// TestReconcileReplicationController checks that an RC gets pods controlled by it (kind
// ReplicationController, apiVersion v1) and its status written through its own subresource.
func TestReconcileReplicationController(t *testing.T) {
	c, client := fixtureFor(t, ReplicationControllers, replicationController(2), testPod("ready", false, "ready", 0))
	if err := c.Reconcile(context.Background(), "ns/web"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	var creates, adoptions int
	var status *corev1.ReplicationController
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case clienttesting.CreateAction:
			var pod *corev1.Pod
			switch o := a.GetObject().(type) {
			case *corev1.Pod:
				pod = o
			case *corev1.ReplicationController:
				status = o
				continue
			}
			if a.GetVerb() == "create" {
				creates++
			} else {
				adoptions++
			}
			ref := metav1.GetControllerOf(pod)
			want := metav1.OwnerReference{APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: "rs-uid",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
			if ref == nil || !apiequality.Semantic.DeepEqual(*ref, want) {
				t.Errorf("%s pod %s: controller %+v, want %+v", a.GetVerb(), pod.Name, ref, want)
			}
		}
	}
	if creates != 1 || adoptions != 1 {
		t.Errorf("%d creates and %d adoptions, want 1 and 1", creates, adoptions)
	}
	if status == nil {
		t.Fatal("no status update of the replicationcontroller")
	}
	if st := status.Status; st.Replicas != 1 || st.ReadyReplicas != 1 || st.AvailableReplicas != 1 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v, want 1 replica ready and available at generation 2", st)
	}
	events := c.events.(*record.FakeRecorder).Events
	if e := <-events; e != "Normal SuccessfulCreate Created pod: web-1" {
		t.Errorf("event %q", e)
	}
}
