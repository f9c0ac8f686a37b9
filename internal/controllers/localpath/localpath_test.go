package localpath

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// newController returns a controller whose caches hold objs, and its fake API.
func newController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(10)
	c := New(client, factory, recorder, "/data/storage")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	if err := c.ensureClass(ctx); err != nil {
		t.Fatal(err)
	}
	class, err := client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := factory.Storage().V1().StorageClasses().Informer().GetStore().Add(class); err != nil {
		t.Fatal(err)
	}
	return c, client, recorder
}

func TestProvisionsForTheSelectedNode(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "1234", Annotations: map[string]string{
			"volume.kubernetes.io/selected-node": "node-a", "volume.kubernetes.io/storage-provisioner": Provisioner}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(ClassName), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}}},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelHostname: "host-a"}}}
	c, client, recorder := newController(t, claim, node)
	if err := c.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-1234", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	expr := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	if capacity.String() != "3Gi" || pv.Spec.Local.Path != "/data/storage/pvc-1234" || pv.Spec.AccessModes[0] != corev1.ReadWriteOncePod ||
		pv.Spec.ClaimRef.UID != "1234" || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		expr.Key != corev1.LabelHostname || expr.Values[0] != "host-a" || pv.Annotations["pv.kubernetes.io/provisioned-by"] != Provisioner {
		t.Errorf("volume %+v", pv)
	}
	for _, want := range []string{`Normal Provisioning External provisioner is provisioning volume for claim "ns/data"`, "Normal ProvisioningSucceeded Successfully provisioned volume pvc-1234"} {
		if got := <-recorder.Events; got != want {
			t.Errorf("event %q, want %q", got, want)
		}
	}
}

func TestLeavesClaimsNotHandedToIt(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "1234", Annotations: map[string]string{"volume.kubernetes.io/selected-node": "node-a"}},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(ClassName)},
	}
	c, client, _ := newController(t, claim)
	if err := c.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-1234", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("volume provisioned before the binder handed the claim over: %v", err)
	}
}

func TestDeletesReleasedVolumes(t *testing.T) {
	volume := func(name, provisioner string, phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisioner}},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy}, Status: corev1.PersistentVolumeStatus{Phase: phase}}
	}
	c, client, _ := newController(t,
		volume("released", Provisioner, corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete),
		volume("bound", Provisioner, corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete),
		volume("retained", Provisioner, corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain),
		volume("foreign", "csi.example.com", corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete))
	for _, name := range []string{"released", "bound", "retained", "foreign"} {
		if err := c.syncVolume(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		_, err := client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		if deleted := apierrors.IsNotFound(err); deleted != (name == "released") {
			t.Errorf("volume %s deleted: %v", name, deleted)
		}
	}
}
