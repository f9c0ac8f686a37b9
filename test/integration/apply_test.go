package integration

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

func applyDeployment(replicas int32) *appsv1ac.DeploymentApplyConfiguration {
	labels := map[string]string{"app": "ssa"}
	return appsv1ac.Deployment("ssa", "default").WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(replicas).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).
			WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("web").WithImage("nginx:1.19.1")))))
}

// TestServerSideApply checks apply's create, field ownership, conflicts and force, as client-go
// and `kubectl apply --server-side` use them.
func TestServerSideApply(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	deps := c.client.AppsV1().Deployments("default")

	created, err := deps.Apply(ctx, applyDeployment(2), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply that creates: %v", err)
	}
	if *created.Spec.Replicas != 2 || created.UID == "" {
		t.Fatalf("applied deployment: replicas %d uid %q", *created.Spec.Replicas, created.UID)
	}
	owners := map[string]metav1.ManagedFieldsOperationType{}
	for _, e := range created.ManagedFields {
		owners[e.Manager] = e.Operation
	}
	if owners["alice"] != metav1.ManagedFieldsOperationApply {
		t.Errorf("managedFields = %+v, want alice as an Apply manager", created.ManagedFields)
	}

	// Re-applying the same configuration changes nothing.
	again, err := deps.Apply(ctx, applyDeployment(2), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != created.ResourceVersion {
		t.Errorf("no-op apply changed resourceVersion %s -> %s", created.ResourceVersion, again.ResourceVersion)
	}

	// Another manager setting a field alice owns conflicts, unless it forces.
	_, err = deps.Apply(ctx, applyDeployment(5), metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("conflicting apply: %v, want 409 Conflict", err)
	}
	forced, err := deps.Apply(ctx, applyDeployment(5), metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if *forced.Spec.Replicas != 5 || forced.Generation != 2 {
		t.Errorf("forced apply: replicas %d generation %d, want 5 and 2", *forced.Spec.Replicas, forced.Generation)
	}

	// An ordinary update is recorded under its field manager.
	forced.Labels = map[string]string{"team": "x"}
	updated, err := deps.Update(ctx, forced, metav1.UpdateOptions{FieldManager: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range updated.ManagedFields {
		found = found || (e.Manager == "carol" && e.Operation == metav1.ManagedFieldsOperationUpdate)
	}
	if !found {
		t.Errorf("update by carol not recorded in managedFields: %+v", updated.ManagedFields)
	}

	// Apply requires a field manager.
	_, err = deps.Apply(ctx, applyDeployment(1), metav1.ApplyOptions{})
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		t.Errorf("apply without fieldManager: %v, want 422", err)
	}
}
