package persistentvolume

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

type pvOpt func(*corev1.PersistentVolume)

func volume(name, size string, opts ...pvOpt) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("pv-" + name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              "manual",
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
	for _, o := range opts {
		o(pv)
	}
	return pv
}

func claim(name, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("pvc-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("manual"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		}}
}

// newController returns a controller over objs with synced caches and a fake recorder.
func newController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(10)
	c := New(client, factory, rec)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	return c, client, rec
}

func TestBestMatch(t *testing.T) {
	rwx := func(pv *corev1.PersistentVolume) {
		pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany}
	}
	block := func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }
	otherClass := func(pv *corev1.PersistentVolume) { pv.Spec.StorageClassName = "fast" }
	bound := func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "someone", UID: "x"}
	}
	labelled := func(pv *corev1.PersistentVolume) { pv.Labels = map[string]string{"tier": "gold"} }
	c, _, _ := newController(t,
		volume("too-small", "500Mi"),
		volume("modes", "1Gi", rwx),        // smallest fit, but more access modes than needed
		volume("block", "1Gi", block),      // wrong volumeMode
		volume("class", "1Gi", otherClass), // wrong class
		volume("taken", "1Gi", bound),      // bound to another claim
		volume("right", "3Gi"),
		volume("gold", "2Gi", labelled),
	)
	pv, err := c.bestMatch(claim("a", "1Gi"), false)
	if err != nil || pv == nil || pv.Name != "gold" {
		t.Errorf("best match %v (%v), want gold: the smallest with the fewest modes", pv, err)
	}
	selective := claim("b", "1Gi")
	selective.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "silver"}}
	if pv, err := c.bestMatch(selective, false); err != nil || pv != nil {
		t.Errorf("a selector nothing matches found %v (%v)", pv, err)
	}
	if pv, err := c.bestMatch(claim("c", "1Gi"), true); err != nil || pv != nil {
		t.Errorf("a WaitForFirstConsumer claim was matched to %v (%v)", pv, err)
	}
}

func TestSyncClaimBinds(t *testing.T) {
	ctx := context.Background()
	c, client, _ := newController(t, volume("pv1", "2Gi"), claim("data", "1Gi"))
	if err := c.syncClaim(ctx, "ns/data"); err != nil && err.Error() != "requeue after 15s" {
		t.Fatal(err)
	}
	pv, _ := client.CoreV1().PersistentVolumes().Get(ctx, "pv1", metav1.GetOptions{})
	pvc, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	if pv.Status.Phase != corev1.VolumeBound || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID || pv.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" {
		t.Errorf("volume phase %s claimRef %+v annotations %v", pv.Status.Phase, pv.Spec.ClaimRef, pv.Annotations)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName != "pv1" || pvc.Annotations["pv.kubernetes.io/bind-completed"] != "yes" {
		t.Errorf("claim phase %s volume %q annotations %v", pvc.Status.Phase, pvc.Spec.VolumeName, pvc.Annotations)
	}
	if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" {
		t.Errorf("claim capacity %s, want the volume's 2Gi", got.String())
	}
}

func TestSyncClaimWithoutClass(t *testing.T) {
	pvc := claim("loose", "1Gi")
	pvc.Spec.StorageClassName = nil
	c, client, rec := newController(t, pvc)
	if err := c.syncClaim(context.Background(), "ns/loose"); err != nil && err.Error() != "requeue after 15s" {
		t.Fatal(err)
	}
	if got := nextEvent(rec); got != "Normal FailedBinding no persistent volumes available for this claim and no storage class is set" {
		t.Errorf("event %q", got)
	}
	stored, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "loose", metav1.GetOptions{})
	if stored.Status.Phase != corev1.ClaimPending {
		t.Errorf("phase %q, want Pending", stored.Status.Phase)
	}
}

func TestReleasedVolumes(t *testing.T) {
	ctx := context.Background()
	ref := func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "gone", UID: "pvc-gone"}
		pv.Status.Phase = corev1.VolumeBound
	}
	policy := func(p corev1.PersistentVolumeReclaimPolicy) pvOpt {
		return func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = p }
	}
	tmp := func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/tmp/scratch" }
	nfs := func(pv *corev1.PersistentVolume) {
		pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}}
	}
	recreated := claim("gone", "1Gi")
	recreated.UID = "pvc-gone-again"
	c, client, rec := newController(t,
		volume("kept", "1Gi", ref),
		volume("tmp", "1Gi", ref, policy(corev1.PersistentVolumeReclaimDelete), tmp),
		volume("nfs", "1Gi", ref, policy(corev1.PersistentVolumeReclaimDelete), nfs),
		// A claim with the same name but another UID is a different claim.
		volume("replaced", "1Gi", ref),
		recreated,
	)
	for _, name := range []string{"kept", "tmp", "nfs", "replaced"} {
		if err := c.syncVolume(ctx, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	get := func(name string) *corev1.PersistentVolume {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return pv
	}
	if pv := get("kept"); pv.Status.Phase != corev1.VolumeReleased {
		t.Errorf("Retain volume phase %s, want Released", pv.Status.Phase)
	}
	if pv := get("replaced"); pv.Status.Phase != corev1.VolumeReleased {
		t.Errorf("volume of a replaced claim: phase %s, want Released", pv.Status.Phase)
	}
	if pv := get("tmp"); pv != nil {
		t.Errorf("a released /tmp hostPath volume with Delete still exists: %s", pv.Status.Phase)
	}
	want := `error getting deleter volume plugin for volume "nfs": no deletable volume plugin matched`
	if pv := get("nfs"); pv.Status.Phase != corev1.VolumeFailed || pv.Status.Message != want {
		t.Errorf("nfs volume phase %s message %q", pv.Status.Phase, pv.Status.Message)
	}
	if got := nextEvent(rec); got != "Warning VolumeFailedDelete "+want {
		t.Errorf("event %q", got)
	}
}

// nextEvent is the next event recorded, or "" if none was.
func nextEvent(rec *record.FakeRecorder) string {
	select {
	case e := <-rec.Events:
		return e
	default:
		return ""
	}
}
