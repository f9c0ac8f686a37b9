package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/controller"
	gquota "github.com/gantryhq/gantry/internal/quota"
)

const (
	workers = 5
	// resync is how often every quota is recounted, kube-controller-manager's default.
	resync = 5 * time.Minute
)

// Controller recomputes the status of every ResourceQuota.
type Controller struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	quotas   corelisters.ResourceQuotaLister
	registry quota.Registry
	queue    *controller.Controller
	log      *slog.Logger

	// ctx is Run's, for informers started after Run began.
	ctx context.Context

	mu sync.Mutex
	// watched are the resources whose informers have a replenishment handler.
	watched map[schema.GroupVersionResource]bool
	// byGroupResource maps the group resources of count/<resource>.<group> to their versions.
	byGroupResource map[schema.GroupResource]schema.GroupVersionResource
}

// New returns a controller over factory's informers that writes quota status through client.
// Informers for the counted resources are added as quotas need them; Run starts them.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	qi := factory.Core().V1().ResourceQuotas()
	c := &Controller{
		client:          client,
		factory:         factory,
		quotas:          qi.Lister(),
		log:             slog.Default().With("controller", "resourcequota"),
		ctx:             context.Background(),
		watched:         map[schema.GroupVersionResource]bool{},
		byGroupResource: map[schema.GroupResource]schema.GroupVersionResource{},
	}
	c.registry = generic.NewRegistry(gquota.Evaluators(generic.ListerFuncForResourceFunc(c.informerFor)))
	c.queue = controller.New("resourcequota", c)
	qi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queue.Enqueue,
		UpdateFunc: func(_, obj any) {
			// Status-only changes are admission's charges or this controller's own writes.
			if rq := obj.(*corev1.ResourceQuota); !quota.Equals(rq.Spec.Hard, rq.Status.Hard) {
				c.queue.Enqueue(rq)
			}
		},
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	c.factory.Start(ctx.Done())
	return c.queue.Run(ctx, workers, c.factory.Core().V1().ResourceQuotas().Informer().HasSynced)
}

// informerFor is the informer of resource, created with a replenishment handler and started
// the first time a quota counts it.
func (c *Controller) informerFor(resource schema.GroupVersionResource) (informers.GenericInformer, error) {
	inf, err := c.factory.ForResource(resource)
	if err != nil {
		return nil, fmt.Errorf("no informer for %s: %w", resource, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.watched[resource] {
		c.watched[resource] = true
		inf.Informer().AddEventHandler(c.replenisher(resource.GroupResource()))
		c.factory.Start(c.ctx.Done())
	}
	return inf, nil
}

// replenisher queues the quotas of a namespace when an object there goes or its usage changes.
func (c *Controller) replenisher(gr schema.GroupResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			ev := c.registry.Get(gr)
			if ev == nil {
				return
			}
			oldUsage, err1 := ev.Usage(oldObj.(runtime.Object))
			newUsage, err2 := ev.Usage(newObj.(runtime.Object))
			if err1 == nil && err2 == nil && quota.Equals(oldUsage, newUsage) {
				return
			}
			c.enqueueNamespace(newObj)
		},
		DeleteFunc: c.enqueueNamespace,
	}
}

func (c *Controller) enqueueNamespace(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(interface{ GetNamespace() string })
	if !ok || m.GetNamespace() == "" {
		return
	}
	quotas, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rq := range quotas {
		c.queue.Enqueue(rq)
	}
}

// Reconcile recounts the usage of one quota.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	rq, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	hard := quota.Add(corev1.ResourceList{}, rq.Spec.Hard)
	if err := c.addCountEvaluators(quota.ResourceNames(hard)); err != nil {
		c.log.Warn("resolve counted resources", "quota", key, "err", err)
	}
	counted, calcErr := quota.CalculateUsage(ns, rq.Spec.Scopes, hard, c.registry, rq.Spec.ScopeSelector)
	// What could not be counted keeps its last known usage.
	used := quota.Add(corev1.ResourceList{}, rq.Status.Used)
	for k, v := range counted {
		used[k] = v
	}
	used = quota.Mask(used, quota.ResourceNames(hard))

	if rq.Status.Hard == nil || rq.Status.Used == nil || !quota.Equals(hard, rq.Status.Hard) || !quota.Equals(used, rq.Status.Used) {
		next := rq.DeepCopy()
		next.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
		if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update status of quota %s: %w", key, err)
		}
	}
	if calcErr != nil {
		return fmt.Errorf("count usage of quota %s: %w", key, calcErr)
	}
	return controller.RequeueAfter(resync)
}

// addCountEvaluators adds object-count evaluators for the count/<resource>.<group> names no
// evaluator handles yet, resolving their versions through discovery.
func (c *Controller) addCountEvaluators(names []corev1.ResourceName) error {
	var missing []schema.GroupResource
	for _, name := range names {
		rest, ok := strings.CutPrefix(string(name), "count/")
		if !ok {
			continue
		}
		gr := schema.ParseGroupResource(rest)
		if c.registry.Get(gr) == nil {
			missing = append(missing, gr)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := c.discover(missing); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, gr := range missing {
		gvr, ok := c.byGroupResource[gr]
		if !ok {
			continue
		}
		lister := generic.ListerFuncForResourceFunc(c.informerFor)
		c.registry.Add(generic.NewObjectCountEvaluator(gr, generic.ListResourceUsingListerFunc(lister, gvr), ""))
	}
	return nil
}

// discover learns the preferred versions of the namespaced resources the server serves, unless
// every one of want is known already.
func (c *Controller) discover(want []schema.GroupResource) error {
	c.mu.Lock()
	known := true
	for _, gr := range want {
		if _, ok := c.byGroupResource[gr]; !ok {
			known = false
		}
	}
	c.mu.Unlock()
	if known {
		return nil
	}
	groups, lists, err := c.client.Discovery().ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return fmt.Errorf("discover resources: %w", err)
	}
	preferred := map[string]string{}
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.Version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil || preferred[gv.Group] != gv.Version {
			continue
		}
		for _, r := range list.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") {
				continue
			}
			c.byGroupResource[gv.WithResource(r.Name).GroupResource()] = gv.WithResource(r.Name)
		}
	}
	return nil
}
