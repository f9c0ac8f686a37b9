// Package controller is the kit every controller is built from: one workqueue loop with one
// error contract, written once.
//
// A controller watches objects through shared informers, enqueues the keys
// ("namespace/name") of what changed, and reconciles each key: it reads the current state
// from its listers, compares it with the declared state and acts through the API. Reconcile
// must be idempotent: the same key may come again at any time.
//
// The error contract (controller-runtime's):
//   - nil: the key is done; its backoff is reset.
//   - an error: retried with exponential backoff (5 ms doubling to 1000 s, per key).
//   - RequeueAfter(d): done for now, look again after d (deadlines, timers).
//   - Terminal(err): logged and dropped; retrying cannot help.
//
// A key is never reconciled by two workers at once (the workqueue guarantees it).
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Reconciler drives the object named by key towards its declared state.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) error
}

// ReconcileFunc adapts a function to a Reconciler.
type ReconcileFunc func(ctx context.Context, key string) error

// Reconcile calls f.
func (f ReconcileFunc) Reconcile(ctx context.Context, key string) error { return f(ctx, key) }

type requeueAfter struct{ after time.Duration }

func (r requeueAfter) Error() string { return fmt.Sprintf("requeue after %s", r.after) }

// RequeueAfter ends a reconcile successfully and asks for the key again after d.
func RequeueAfter(d time.Duration) error { return requeueAfter{d} }

type terminal struct{ err error }

func (t terminal) Error() string { return t.err.Error() }
func (t terminal) Unwrap() error { return t.err }

// Terminal marks err as one that retrying cannot fix.
func Terminal(err error) error { return terminal{err} }

// Controller runs a Reconciler over a rate-limited workqueue of keys.
type Controller struct {
	name  string
	rec   Reconciler
	queue workqueue.TypedRateLimitingInterface[string]
	log   *slog.Logger
}

// New returns a controller named name (for logs and metrics) that reconciles with rec.
func New(name string, rec Reconciler) *Controller {
	return &Controller{
		name: name,
		rec:  rec,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		log: slog.Default().With("controller", name),
	}
}

// Enqueue adds the key of obj, an object or a cache.DeletedFinalStateUnknown.
func (c *Controller) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("%s: key of %T: %w", c.name, obj, err))
		return
	}
	c.queue.Add(key)
}

// EnqueueKey adds key.
func (c *Controller) EnqueueKey(key string) { c.queue.Add(key) }

// EnqueueAfter adds key after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// Handler is an informer event handler that enqueues every object it sees.
func (c *Controller) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    c.Enqueue,
		UpdateFunc: func(_, obj any) { c.Enqueue(obj) },
		DeleteFunc: c.Enqueue,
	}
}

// Run waits for the informers to sync, then reconciles with workers goroutines until ctx is
// done.
func (c *Controller) Run(ctx context.Context, workers int, synced ...cache.InformerSynced) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("%s: caches did not sync: %w", c.name, ctx.Err())
	}
	c.log.Debug("started", "workers", workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for c.processNext(ctx) {
				}
			}, time.Second)
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// processNext reconciles one key and applies the error contract.
func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)

	err := c.rec.Reconcile(ctx, key)
	var after requeueAfter
	var term terminal
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &after):
		c.queue.Forget(key)
		c.queue.AddAfter(key, after.after)
	case errors.As(err, &term):
		c.queue.Forget(key)
		c.log.Error("reconcile failed for good", "key", key, "err", err)
	default:
		c.log.Debug("reconcile failed, will retry", "key", key, "err", err, "retries", c.queue.NumRequeues(key))
		c.queue.AddRateLimited(key)
	}
	return true
}
