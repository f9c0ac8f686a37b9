package localpath

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	// Provisioner is the provisioner name of the class.
	Provisioner = "gantry.dev/local-path"
	// ClassName is the default StorageClass the controller keeps.
	ClassName = "local-path"

	annDefaultClass  = "storageclass.kubernetes.io/is-default-class"
	annSelectedNode  = "volume.kubernetes.io/selected-node"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	workers          = 2
)

// Controller provisions and deletes local-path volumes.
type Controller struct {
	client   kubernetes.Interface
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	claimQ   *controller.Controller
	volumeQ  *controller.Controller
	recorder record.EventRecorder
	dir      string
	log      *slog.Logger
}

// New returns a controller over factory's informers that writes through client and puts
// volumes under dir on the nodes. The caller starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, dir string) *Controller {
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	pvs := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		claims:   pvcs.Lister(),
		volumes:  pvs.Lister(),
		classes:  classes.Lister(),
		nodes:    nodes.Lister(),
		synced:   []cache.InformerSynced{pvcs.Informer().HasSynced, pvs.Informer().HasSynced, classes.Informer().HasSynced, nodes.Informer().HasSynced},
		recorder: recorder,
		dir:      dir,
		log:      slog.Default().With("controller", "localpath"),
	}
	c.claimQ = controller.New("localpath-claims", controller.ReconcileFunc(c.syncClaim))
	c.volumeQ = controller.New("localpath-volumes", controller.ReconcileFunc(c.syncVolume))
	pvcs.Informer().AddEventHandler(c.claimQ.Handler())
	pvs.Informer().AddEventHandler(c.volumeQ.Handler())
	return c
}

// Run makes sure the class exists, then reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.ensureClass(ctx); err != nil {
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- c.claimQ.Run(ctx, workers, c.synced...) }()
	go func() { errs <- c.volumeQ.Run(ctx, workers, c.synced...) }()
	err := <-errs
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

// ensureClass creates the default class if it is missing; an existing one, perhaps
// changed by its administrator, is left alone.
func (c *Controller) ensureClass(ctx context.Context) error {
	_, err := c.client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read storage class %s: %w", ClassName, err)
	}
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	_, err = c.client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: ClassName, Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: &wait,
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", ClassName, err)
	}
	return nil
}

// syncClaim provisions a volume for a claim that waits for this provisioner.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// As the external-provisioner library: only claims the binder handed to us.
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil ||
		claim.Annotations[storagehelpers.AnnStorageProvisioner] != Provisioner && claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] != Provisioner {
		return nil
	}
	class, err := c.classes.Get(storagehelpers.GetPersistentVolumeClaimClass(claim))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if class.Provisioner != Provisioner {
		return nil
	}
	pvName := "pvc-" + string(claim.UID)
	if _, err := c.volumes.Get(pvName); err == nil {
		return nil
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, "Provisioning", fmt.Sprintf("External provisioner is provisioning volume for claim %q", ns+"/"+name))
	node := claim.Annotations[annSelectedNode]
	if node == "" {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass \""+class.Name+"\": configuration error, no node was specified")
		return nil
	}
	if mode := claim.Spec.VolumeMode; mode != nil && *mode == corev1.PersistentVolumeBlock {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass \""+class.Name+"\": local-path supports only volumeMode Filesystem")
		return nil
	}
	pv := c.volumeFor(claim, class, pvName, node)
	if _, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", fmt.Sprintf("failed to provision volume with StorageClass %q: %v", class.Name, err))
		return fmt.Errorf("create volume %s for claim %s: %w", pvName, key, err)
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume "+pvName)
	return nil
}

// volumeFor is the volume provisioned for claim on node.
func (c *Controller) volumeFor(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, name, node string) *corev1.PersistentVolume {
	hostname := node
	if n, err := c.nodes.Get(node); err == nil && n.Labels[corev1.LabelHostname] != "" {
		hostname = n.Labels[corev1.LabelHostname]
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(c.dir, name)}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
		},
	}
}

// syncVolume deletes a released volume of this provisioner whose policy is Delete.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.Annotations[annProvisionedBy] != Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return nil
	}
	uid := pv.UID
	err = c.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Event(pv, corev1.EventTypeWarning, "VolumeFailedDelete", err.Error())
		return fmt.Errorf("delete released volume %s: %w", name, err)
	}
	c.log.Info("deleted released volume", "volume", name)
	return nil
}
