package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

func TestLocalPathProvisioning(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	opts := simulate.DefaultOptions()
	opts.Nodes = 2
	runSimulator(t, c, opts)
	createNamespace(t, c, "lp")
	pvcs := c.client.CoreV1().PersistentVolumeClaims("lp")

	eventually(t, "default class local-path", func() bool {
		class, err := c.client.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
		return err == nil && class.Provisioner == "gantry.dev/local-path" && *class.VolumeBindingMode == "WaitForFirstConsumer" &&
			*class.ReclaimPolicy == corev1.PersistentVolumeReclaimDelete && class.Annotations["storageclass.kubernetes.io/is-default-class"] == "true"
	})

	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
	}}
	claim, err := pvcs.Create(ctx, claim, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "local-path" {
		t.Fatalf("claim without a class got storageClassName %v, want the default local-path", claim.Spec.StorageClassName)
	}
	claimEvent(t, c, "lp", "data", "WaitForFirstConsumer")

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "nginx:1", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
	}}
	if _, err := c.client.CoreV1().Pods("lp").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var node string
	eventually(t, "pod scheduled", func() bool {
		p, err := c.client.CoreV1().Pods("lp").Get(ctx, "user", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node = p.Spec.NodeName
		return node != ""
	})
	eventually(t, "claim Bound", func() bool {
		if claim, err = pvcs.Get(ctx, "data", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		return claim.Status.Phase == corev1.ClaimBound
	})
	if got := claim.Annotations["volume.kubernetes.io/selected-node"]; got != node {
		t.Errorf("selected-node %q, want the pod's node %q", got, node)
	}
	pvName := "pvc-" + string(claim.UID)
	if claim.Spec.VolumeName != pvName {
		t.Errorf("claim bound to %q, want %s", claim.Spec.VolumeName, pvName)
	}
	var pv *corev1.PersistentVolume
	eventually(t, "volume Bound", func() bool {
		if pv, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		return pv.Status.Phase == corev1.VolumeBound
	})
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if capacity.String() != "2Gi" || pv.Spec.Local == nil || pv.Spec.Local.Path != filepath.Join(c.dataDir, "storage", pvName) ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != "local-path" ||
		pv.Annotations["pv.kubernetes.io/provisioned-by"] != "gantry.dev/local-path" ||
		len(terms) != 1 || fmt.Sprint(terms[0].MatchExpressions) != fmt.Sprintf("[{kubernetes.io/hostname In [%s]}]", node) {
		t.Errorf("provisioned volume %+v", pv.Spec)
	}
	for _, reason := range []string{"ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} {
		claimEvent(t, c, "lp", "data", reason)
	}
	if out := c.kubectl("get", "pvc", "-n", "lp", "data", "--no-headers"); !hasLine(out, `^data\s+Bound\s+`+pvName+`\s+2Gi\s+RWO\s+local-path\s+`) {
		t.Errorf("kubectl get pvc:\n%s", out)
	}

	t.Run("deleting the claim deletes the volume", func(t *testing.T) {
		if err := c.client.CoreV1().Pods("lp").Delete(ctx, "user", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		if err := pvcs.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "volume deleted", func() bool {
			_, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})

	t.Run("a StatefulSet's claims are provisioned", func(t *testing.T) {
		set := newStatefulSet("lp", "db", 2)
		if _, err := c.client.AppsV1().StatefulSets("lp").Create(ctx, set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			name := fmt.Sprintf("www-db-%d", i)
			eventually(t, name+" Bound to a provisioned volume", func() bool {
				claim, err := pvcs.Get(ctx, name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return false
				}
				if err != nil {
					t.Fatal(err)
				}
				return claim.Status.Phase == corev1.ClaimBound && claim.Spec.VolumeName == "pvc-"+string(claim.UID) &&
					*claim.Spec.StorageClassName == "local-path"
			})
		}
	})
}
