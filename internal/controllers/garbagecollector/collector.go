package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/lru"

	"github.com/gantryhq/gantry/internal/controller"
)

const (
	deleteWorkers = 5
	orphanWorkers = 2
	// absentOwners is how many owners confirmed absent are remembered.
	absentOwners = 4096
	// discoveryRetry is how long Run waits before asking discovery again after a failure.
	discoveryRetry = 2 * time.Second
)

// enqueuer takes keys (UIDs) to examine; the kit's Controller is one.
type enqueuer interface {
	EnqueueKey(key string)
}

// Controller is the garbage collector.
type Controller struct {
	discovery discovery.ServerResourcesInterface
	client    metadata.Interface
	log       *slog.Logger

	graph *graph
	// resources is set by Run before any worker starts.
	resources *resources
	// absent holds objectRefs (namespace cleared for cluster-scoped kinds) that a live GET
	// found missing.
	absent *lru.Cache

	deleter, orphaner        *controller.Controller
	deleteQueue, orphanQueue enqueuer
}

// New returns a garbage collector that finds resources through disco (typically
// clientset.Discovery()) and reads, patches and deletes objects through client. It owns its
// metadata informers: Run creates them from discovery and starts them, so the caller has no
// informer factory to start for it.
func New(disco discovery.ServerResourcesInterface, client metadata.Interface) *Controller {
	c := &Controller{
		discovery: disco,
		client:    client,
		log:       slog.Default().With("controller", "garbagecollector"),
		graph:     newGraph(),
		absent:    lru.New(absentOwners),
	}
	c.deleter = controller.New("garbagecollector", controller.ReconcileFunc(c.attemptToDelete))
	c.orphaner = controller.New("garbagecollector-orphan", controller.ReconcileFunc(c.attemptToOrphan))
	c.deleteQueue, c.orphanQueue = c.deleter, c.orphaner
	return c
}

// Run discovers the resources, watches them, and collects garbage until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	res, err := c.discover(ctx)
	if err != nil {
		return err
	}
	c.resources = res

	factory := metadatainformer.NewSharedInformerFactoryWithOptions(c.client, 0, metadatainformer.WithTransform(stripManagedFields))
	var synced []cache.InformerSynced
	watched := res.watched()
	for _, r := range watched {
		inf := factory.ForResource(r.gvr).Informer()
		if _, err := inf.AddEventHandler(c.handler(r)); err != nil {
			return fmt.Errorf("garbagecollector: watch %s: %w", r.gvr, err)
		}
		synced = append(synced, inf.HasSynced)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	c.log.Info("started", "resources", len(watched))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = c.deleter.Run(ctx, deleteWorkers, synced...) })
	wg.Go(func() { errs[1] = c.orphaner.Run(ctx, orphanWorkers, synced...) })
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	return errs[1]
}

// discover asks for the preferred resources until it gets some or ctx is done. A discovery
// that fails for some groups still serves the others.
func (c *Controller) discover(ctx context.Context) (*resources, error) {
	for {
		lists, err := c.discovery.ServerPreferredResources()
		if len(lists) > 0 {
			if err != nil {
				c.log.Warn("discovery failed for some groups", "err", err)
			}
			return newResources(lists), nil
		}
		c.log.Warn("discovery failed, will retry", "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("garbagecollector: discovery: %w", ctx.Err())
		case <-time.After(discoveryRetry):
		}
	}
}

// handler feeds one resource's informer events into the graph.
func (c *Controller) handler(r resource) cache.ResourceEventHandler {
	apiVersion := r.gvr.GroupVersion().String()
	observe := func(obj any) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		c.schedule(c.graph.observe(observation{
			ref:        objectRef{APIVersion: apiVersion, Kind: r.kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()},
			owners:     m.GetOwnerReferences(),
			deleting:   m.GetDeletionTimestamp() != nil,
			finalizers: m.GetFinalizers(),
		}))
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, err := meta.Accessor(obj); err == nil {
				c.schedule(c.graph.remove(m.GetUID()))
			}
		},
	}
}

// schedule hands the graph's work to the queues.
func (c *Controller) schedule(w work) {
	for _, uid := range w.attemptToDelete {
		c.deleteQueue.EnqueueKey(string(uid))
	}
	for _, uid := range w.attemptToOrphan {
		c.orphanQueue.EnqueueKey(string(uid))
	}
}

// stripManagedFields keeps the informers' caches small: the collector never reads them.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields = nil
	}
	return obj, nil
}

// uidsOf lists the UIDs of refs.
func uidsOf(refs ...[]metav1.OwnerReference) []types.UID {
	var out []types.UID
	for _, list := range refs {
		for _, r := range list {
			out = append(out, r.UID)
		}
	}
	return out
}
