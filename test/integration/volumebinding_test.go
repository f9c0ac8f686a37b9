package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

func hostPathVolume(name, class, size string, policy corev1.PersistentVolumeReclaimPolicy, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"size": size}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   modes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		}}
}

func volumeClaim(ns, name, class, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class),
			AccessModes:      modes,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		}}
}

func TestVolumeBinding(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	createNamespace(t, c, "vols")
	pvs := c.client.CoreV1().PersistentVolumes()
	pvcs := c.client.CoreV1().PersistentVolumeClaims("vols")
	rwo := corev1.ReadWriteOnce
	for _, pv := range []*corev1.PersistentVolume{
		hostPathVolume("big", "manual", "10Gi", corev1.PersistentVolumeReclaimRetain, rwo),
		hostPathVolume("small", "manual", "2Gi", corev1.PersistentVolumeReclaimRetain, rwo),
		hostPathVolume("tiny", "manual", "500Mi", corev1.PersistentVolumeReclaimRetain, rwo),
		hostPathVolume("other-class", "fast", "5Gi", corev1.PersistentVolumeReclaimDelete, rwo),
	} {
		if _, err := pvs.Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "volumes Available", func() bool {
		list, err := pvs.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range list.Items {
			if pv.Status.Phase != corev1.VolumeAvailable {
				return false
			}
		}
		return len(list.Items) == 4
	})

	claimPhase := func(name string) (*corev1.PersistentVolumeClaim, bool) {
		pvc, err := pvcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pvc, pvc.Status.Phase == corev1.ClaimBound
	}

	t.Run("a claim binds the smallest matching volume", func(t *testing.T) {
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "data", "manual", "1Gi", rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pvc *corev1.PersistentVolumeClaim
		eventually(t, "claim Bound", func() bool { var ok bool; pvc, ok = claimPhase("data"); return ok })
		if pvc.Spec.VolumeName != "small" || pvc.Annotations["pv.kubernetes.io/bind-completed"] != "yes" || pvc.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" {
			t.Errorf("claim volumeName %q annotations %v; want small, bind-completed and bound-by-controller", pvc.Spec.VolumeName, pvc.Annotations)
		}
		if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" || len(pvc.Status.AccessModes) != 1 {
			t.Errorf("claim status capacity %s access modes %v; want the volume's 2Gi RWO", got.String(), pvc.Status.AccessModes)
		}
		var pv *corev1.PersistentVolume
		eventually(t, "volume Bound", func() bool {
			var err error
			if pv, err = pvs.Get(ctx, "small", metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
			return pv.Status.Phase == corev1.VolumeBound
		})
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "data" || ref.Namespace != "vols" || ref.UID != pvc.UID || pv.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" {
			t.Errorf("volume claimRef %+v annotations %v", pv.Spec.ClaimRef, pv.Annotations)
		}
		out := c.kubectl("get", "pvc", "-n", "vols", "data", "--no-headers")
		if !hasLine(out, `^data\s+Bound\s+small\s+2Gi\s+RWO\s+manual\s+`) {
			t.Errorf("kubectl get pvc:\n%s", out)
		}
	})

	t.Run("a claim nothing matches stays Pending", func(t *testing.T) {
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "huge", "manual", "50Gi", rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "shared", "manual", "1Gi", corev1.ReadWriteMany), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A claim of a class with an external provisioner waits for it.
		if _, err := c.client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{Name: "csi"}, Provisioner: "csi.example.com"}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "dynamic", "csi", "1Gi", rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for name, reason := range map[string]string{"huge": "", "shared": "", "dynamic": "ExternalProvisioning"} {
			eventually(t, name+" Pending", func() bool {
				pvc, _ := claimPhase(name)
				return pvc.Status.Phase == corev1.ClaimPending
			})
			if reason != "" {
				ev := claimEvent(t, c, "vols", name, reason)
				if ev.Message != "Waiting for a volume to be created either by the external provisioner 'csi.example.com' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered." || ev.Source.Component != "persistentvolume-controller" {
					t.Errorf("%s event %q from %q", reason, ev.Message, ev.Source.Component)
				}
			}
		}
		if pvc, _ := claimPhase("huge"); pvc.Spec.VolumeName != "" {
			t.Errorf("claim huge bound to %s", pvc.Spec.VolumeName)
		}
		// A fitting volume created later is bound.
		if _, err := pvs.Create(ctx, hostPathVolume("jumbo", "manual", "64Gi", corev1.PersistentVolumeReclaimRetain, rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "huge Bound to jumbo", func() bool { pvc, ok := claimPhase("huge"); return ok && pvc.Spec.VolumeName == "jumbo" })
	})

	t.Run("WaitForFirstConsumer claims wait", func(t *testing.T) {
		wait := storagev1.VolumeBindingWaitForFirstConsumer
		if _, err := c.client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &wait}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pvs.Create(ctx, hostPathVolume("local-1", "local", "1Gi", corev1.PersistentVolumeReclaimRetain, rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "later", "local", "1Gi", rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := claimEvent(t, c, "vols", "later", "WaitForFirstConsumer")
		if ev.Message != "waiting for first consumer to be created before binding" {
			t.Errorf("event %q", ev.Message)
		}
		// The binder records Pending right after its event; the claim must stay unbound.
		var pvc *corev1.PersistentVolumeClaim
		eventually(t, "the claim Pending", func() bool {
			pvc, _ = claimPhase("later")
			return pvc.Status.Phase != ""
		})
		if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending {
			t.Errorf("WaitForFirstConsumer claim: phase %s volume %q", pvc.Status.Phase, pvc.Spec.VolumeName)
		}
	})

	t.Run("released volumes follow their reclaim policy", func(t *testing.T) {
		if _, err := pvcs.Create(ctx, volumeClaim("vols", "scratch", "fast", "1Gi", rwo), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "scratch Bound", func() bool { _, ok := claimPhase("scratch"); return ok })
		for _, name := range []string{"data", "scratch"} {
			if err := pvcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		phase := func(name string) *corev1.PersistentVolume {
			pv, err := pvs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return pv
		}
		eventually(t, "small Released (Retain)", func() bool { return phase("small").Status.Phase == corev1.VolumeReleased })
		eventually(t, "other-class Failed (Delete without a deleter)", func() bool { return phase("other-class").Status.Phase == corev1.VolumeFailed })
		want := "host_path deleter only supports /tmp/.+ but received provided /data/other-class"
		if pv := phase("other-class"); pv.Status.Message != want {
			t.Errorf("Failed volume message %q, want %q", pv.Status.Message, want)
		}
		out := c.kubectl("describe", "pv", "other-class")
		if !strings.Contains(out, "VolumeFailedDelete") || !strings.Contains(out, want) {
			t.Errorf("kubectl describe pv:\n%s", out)
		}
		if out := c.kubectl("get", "pv", "small", "--no-headers"); !hasLine(out, `^small\s+2Gi\s+RWO\s+Retain\s+Released\s+vols/data\s+manual\s+`) {
			t.Errorf("kubectl get pv small:\n%s", out)
		}
	})
}

// claimEvent waits for the event with reason about a claim.
func claimEvent(t *testing.T, c *cluster, ns, name, reason string) corev1.Event {
	t.Helper()
	var found corev1.Event
	eventually(t, reason+" event for "+name, func() bool {
		list, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.name": name, "reason": reason}.String()})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 0 {
			return false
		}
		found = list.Items[0]
		return true
	})
	return found
}
