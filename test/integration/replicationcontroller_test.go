package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// TestReplicationController checks that a ReplicationController keeps its replicas as a
// ReplicaSet does: pods controlled by the RC, status on the RC, scaling through kubectl,
// release of a relabelled pod, and deletion of its pods with it.
func TestReplicationController(t *testing.T) {
	c := startCluster(t)
	sim := simulate.DefaultOptions()
	sim.Nodes, sim.PodStartDelay = 2, 100*time.Millisecond
	runSimulator(t, c, sim)
	const ns = "rc"
	createNamespace(t, c, ns)
	ctx := context.Background()
	rcs := c.client.CoreV1().ReplicationControllers(ns)

	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](3),
			Selector: map[string]string{"app": "rcweb"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rcweb"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			},
		},
	}
	rc, err := rcs.Create(ctx, rc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ownedByRC := func(p corev1.Pod) bool {
		ref := metav1.GetControllerOf(&p)
		return ref != nil && ref.Kind == "ReplicationController" && ref.APIVersion == "v1" &&
			ref.Name == "x" && ref.UID == rc.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
	}
	readyOwned := func(want int) func() bool {
		return func() bool {
			pods := livePods(t, c, ns, "rcweb")
			if len(pods) != want {
				return false
			}
			for _, p := range pods {
				if !ownedByRC(p) || !isReady(&p) {
					return false
				}
			}
			return true
		}
	}
	statusIs := func(want int32) func() bool {
		return func() bool {
			got, err := rcs.Get(ctx, "x", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := got.Status
			return st.Replicas == want && st.ReadyReplicas == want && st.AvailableReplicas == want &&
				st.FullyLabeledReplicas == want && st.ObservedGeneration == got.Generation
		}
	}
	eventually(t, "3 ready pods controlled by the RC", readyOwned(3))
	eventually(t, "RC status with 3 replicas ready and available", statusIs(3))

	c.kubectl("-n", ns, "scale", "rc/x", "--replicas=1")
	eventually(t, "1 pod after scaling down", readyOwned(1))
	eventually(t, "RC status with 1 replica", statusIs(1))

	// A pod relabelled out of the selector is released, and the RC replaces it.
	released := livePods(t, c, ns, "rcweb")[0].Name
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.client.CoreV1().Pods(ns).Get(ctx, released, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Labels["app"] = "moved"
		_, err = c.client.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relabelled pod released", func() bool {
		p, err := c.client.CoreV1().Pods(ns).Get(ctx, released, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.OwnerReferences) == 0
	})
	eventually(t, "a replacement pod", func() bool {
		pods := livePods(t, c, ns, "rcweb")
		return readyOwned(1)() && pods[0].Name != released
	})

	c.kubectl("-n", ns, "delete", "rc", "x")
	eventually(t, "the RC's pods deleted with it", func() bool {
		list, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=rcweb"})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items) == 0
	})
	// The released pod is no longer the RC's, so it outlives it.
	if _, err := c.client.CoreV1().Pods(ns).Get(ctx, released, metav1.GetOptions{}); err != nil {
		t.Errorf("released pod: %v", err)
	}
}
