package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/app"
)

// A node agent reports the status of a pod that is being deleted (its containers stopping
// within the grace period): the status write keeps the deletion timestamp, as
// kube-apiserver's does, instead of failing as an attempt to clear it.
func TestStatusOfTerminatingPod(t *testing.T) {
	c := startCluster(t, func(cfg *app.ServerConfig) { cfg.DisableScheduler = true })
	ctx := context.Background()
	pods := c.client.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stopping"},
		Spec: corev1.PodSpec{
			NodeName:                      "node-a",
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err = pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || pod.DeletionTimestamp == nil {
		t.Fatalf("after delete: %v, deletionTimestamp %v", err, pod.DeletionTimestamp)
	}
	deleting := *pod.DeletionTimestamp
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Message = "stopped"
	updated, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("status update of a terminating pod: %v", err)
	}
	if updated.Status.Phase != corev1.PodFailed || updated.DeletionTimestamp == nil || !updated.DeletionTimestamp.Equal(&deleting) {
		t.Errorf("phase %s, deletionTimestamp %v (want %v)", updated.Status.Phase, updated.DeletionTimestamp, deleting)
	}
	patched, err := pods.Patch(ctx, pod.Name, types.StrategicMergePatchType,
		[]byte(`{"status":{"message":"patched"}}`), metav1.PatchOptions{}, "status")
	if err != nil || patched.Status.Message != "patched" || patched.DeletionTimestamp == nil {
		t.Errorf("status patch of a terminating pod: %v, %+v", err, patched)
	}
}
