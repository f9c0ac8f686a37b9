package persistentvolume

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	workers = 2
	// syncPeriod is how often a Pending claim is matched again, kube-controller-manager's
	// --pvclaimbinder-sync-period.
	syncPeriod = 15 * time.Second
)

// Controller binds claims to volumes and reclaims released volumes.
type Controller struct {
	client      kubernetes.Interface
	volumes     corelisters.PersistentVolumeLister
	claims      corelisters.PersistentVolumeClaimLister
	classes     storagelisters.StorageClassLister
	synced      []cache.InformerSynced
	claimQueue  *controller.Controller
	volumeQueue *controller.Controller
	recorder    record.EventRecorder
	log         *slog.Logger
}

// New returns a controller over factory's informers that writes through client. The caller
// starts factory after constructing everything.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	pvs := factory.Core().V1().PersistentVolumes()
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	classes := factory.Storage().V1().StorageClasses()
	c := &Controller{
		client:   client,
		volumes:  pvs.Lister(),
		claims:   pvcs.Lister(),
		classes:  classes.Lister(),
		synced:   []cache.InformerSynced{pvs.Informer().HasSynced, pvcs.Informer().HasSynced, classes.Informer().HasSynced},
		recorder: recorder,
		log:      slog.Default().With("controller", "persistentvolume"),
	}
	c.claimQueue = controller.New("persistentvolume-claims", controller.ReconcileFunc(c.syncClaim))
	c.volumeQueue = controller.New("persistentvolume-volumes", controller.ReconcileFunc(c.syncVolume))
	pvcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.claimQueue.Enqueue,
		UpdateFunc: func(_, obj any) { c.claimQueue.Enqueue(obj) },
		DeleteFunc: c.claimDeleted,
	})
	pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.volumeChanged,
		UpdateFunc: func(_, obj any) { c.volumeChanged(obj) },
		DeleteFunc: c.volumeDeleted,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	errs := make(chan error, 2)
	go func() { errs <- c.claimQueue.Run(ctx, workers, c.synced...) }()
	go func() { errs <- c.volumeQueue.Run(ctx, workers, c.synced...) }()
	err := <-errs
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

// claimDeleted releases the deleted claim's volume.
func (c *Controller) claimDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if claim, ok := obj.(*corev1.PersistentVolumeClaim); ok && claim.Spec.VolumeName != "" {
		c.volumeQueue.EnqueueKey(claim.Spec.VolumeName)
	}
}

// volumeChanged syncs the volume and the claims it could serve: its own claim, or every
// unbound claim if it is available.
func (c *Controller) volumeChanged(obj any) {
	pv := obj.(*corev1.PersistentVolume)
	c.volumeQueue.Enqueue(pv)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.claimQueue.EnqueueKey(ref.Namespace + "/" + ref.Name)
		return
	}
	if pv.Status.Phase != corev1.VolumeAvailable {
		return
	}
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, claim := range claims {
		if claim.Spec.VolumeName == "" {
			c.claimQueue.Enqueue(claim)
		}
	}
}

// volumeDeleted makes the claim bound to the deleted volume notice its loss.
func (c *Controller) volumeDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		c.claimQueue.EnqueueKey(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	}
}
