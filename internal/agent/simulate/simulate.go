package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/controller"
)

// UserAgent is what the agent sends as its User-Agent.
const UserAgent = "gantry-agent-simulate"

// agent is the state of one Run.
type agent struct {
	opts   Options
	log    *slog.Logger
	client kubernetes.Interface
	clock  clock.Clock

	// nodes is fixed once built: read without a lock.
	nodes map[string]*simNode
	order []*simNode

	pods     corelisters.PodLister
	podTimes sync.Map // types.UID → podTimes

	warnedIPs                     atomic.Bool
	leaseFailures, statusFailures *failures
}

// newAgent builds the agent's nodes; opts must be complete.
func newAgent(client kubernetes.Interface, opts Options) (*agent, error) {
	plan, err := newAddressPlan(opts.PodCIDR, opts.Nodes)
	if err != nil {
		return nil, err
	}
	a := &agent{
		opts:           opts,
		log:            opts.Logger,
		client:         client,
		clock:          opts.clock,
		nodes:          make(map[string]*simNode, opts.Nodes),
		order:          make([]*simNode, opts.Nodes),
		leaseFailures:  &failures{log: opts.Logger, what: "lease renewals"},
		statusFailures: &failures{log: opts.Logger, what: "node status updates"},
	}
	for i := range opts.Nodes {
		n := &simNode{index: i, name: nodeName(opts.NodePrefix, i), hostIP: plan.hostIP(i), ips: plan.podIPs(i)}
		a.nodes[n.name] = n
		a.order[i] = n
	}
	if pods, ok := opts.Capacity.Pods().AsInt64(); ok && int64(plan.block-3) < pods {
		opts.Logger.Warn("the pod CIDR gives each node fewer addresses than its pod capacity; pod IPs will repeat on full nodes",
			"pod-cidr", opts.PodCIDR, "addresses-per-node", plan.block-3, "pods-per-node", pods)
	}
	return a, nil
}

// Run registers opts.Nodes simulated nodes with the API server cfg points at, and then keeps
// them alive and runs the pods bound to them until ctx is done. It returns an error if the
// nodes cannot be registered, and nil once ctx is done.
//
// The agent uses only the API (client-go), so cfg may point at any Kubernetes-compatible
// server. Its credentials must allow it to write nodes, nodes/status, leases in
// kube-node-lease, pods/status, and to list, watch and delete pods.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	opts, err := opts.complete()
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	client, err := kubernetes.NewForConfig(clientConfig(cfg, &opts))
	if err != nil {
		return fmt.Errorf("simulate: client: %w", err)
	}
	a, err := newAgent(client, opts)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	return a.run(ctx)
}

func (a *agent) run(ctx context.Context) error {
	start := a.clock.Now()
	if err := a.registerAll(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopped while registering
	}
	a.log.Info("registered simulated nodes", "nodes", len(a.order), "took", a.clock.Since(start).Round(time.Millisecond))

	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = boundPods }),
		informers.WithTransform(a.slimPod))
	podInformer := factory.Core().V1().Pods()
	inf := podInformer.Informer()
	a.pods = podInformer.Lister()

	pods := controller.New("simulate-pods", controller.ReconcileFunc(a.syncPod))
	if _, err := inf.AddEventHandler(a.podHandler(pods)); err != nil {
		return fmt.Errorf("simulate: pod handler: %w", err)
	}
	leases := controller.New("simulate-leases", controller.ReconcileFunc(a.renewLease))
	status := controller.New("simulate-node-status", controller.ReconcileFunc(a.heartbeat))
	for i, n := range a.order {
		leases.EnqueueAfter(n.name, spread(i, len(a.order), a.opts.LeaseRenewInterval))
		status.EnqueueAfter(n.name, spread(i, len(a.order), a.opts.NodeStatusInterval))
	}

	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var wg sync.WaitGroup
	wg.Go(func() { pods.Run(ctx, a.opts.Workers, inf.HasSynced) })
	wg.Go(func() { leases.Run(ctx, a.opts.Workers) })
	wg.Go(func() { status.Run(ctx, a.opts.Workers) })
	wg.Wait()
	return nil
}

// registerWorkers is how many times Workers nodes register at once: registration is a
// burst of writes that nothing else competes with.
const registerWorkers = 4

// registerAll registers every node and its Lease, registerWorkers×Workers at a time.
// Errors that retrying may fix are retried a few times; the first lasting error stops the
// registration.
func (a *agent) registerAll(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nodes, leases, err := a.existing(ctx)
	if err != nil {
		a.log.Debug("cannot list existing nodes and leases; registering each with a create first", "err", err)
	}
	sem := make(chan struct{}, registerWorkers*a.opts.Workers)
	var wg sync.WaitGroup
	for _, n := range a.order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := retry.OnError(retry.DefaultBackoff, retriable, func() error { return a.register(ctx, n, nodes[n.name], leases[n.name]) })
			if apierrors.IsForbidden(err) {
				err = fmt.Errorf("%w (a join token may not write nodes until node authorization exists; use an admin kubeconfig)", err)
			}
			if err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("simulate: %w", err)
	}
	return nil
}

// existing lists the simulated Nodes and the node Leases already there, so that registering
// again costs one update per object rather than a failed create, a read and an update.
func (a *agent) existing(ctx context.Context) (map[string]*corev1.Node, map[string]*coordinationv1.Lease, error) {
	nodes := map[string]*corev1.Node{}
	err := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return a.client.CoreV1().Nodes().List(ctx, o)
	}).EachListItem(ctx, metav1.ListOptions{LabelSelector: LabelSimulated + "=true"}, func(obj runtime.Object) error {
		if node := obj.(*corev1.Node); a.nodes[node.Name] != nil {
			nodes[node.Name] = node
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	leases := map[string]*coordinationv1.Lease{}
	err = pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, o)
	}).EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		if l := obj.(*coordinationv1.Lease); a.nodes[l.Name] != nil {
			leases[l.Name] = l
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list leases: %w", err)
	}
	return nodes, leases, nil
}

// retriable reports whether a failed write may succeed if tried again.
func retriable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsInvalid(err),
		apierrors.IsBadRequest(err), apierrors.IsNotFound(err), apierrors.IsMethodNotSupported(err):
		return false
	}
	return true
}

// clientConfig is cfg with the agent's user agent, protobuf request bodies (cheaper to
// encode and decode than JSON; any answer is accepted) and, unless set, a rate limit sized
// for the writes the nodes make: their lease renewals and heartbeats twice over, plus 500/s
// for pods, with a burst of twice that (registration).
func clientConfig(cfg *rest.Config, o *Options) *rest.Config {
	c := rest.CopyConfig(cfg)
	if c.UserAgent == "" {
		c.UserAgent = UserAgent
	}
	if c.ContentType == "" {
		c.ContentType = runtime.ContentTypeProtobuf
		c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	switch {
	case o.QPS > 0:
		c.QPS = o.QPS
	case c.QPS == 0 && c.RateLimiter == nil:
		perSecond := float64(o.Nodes)/o.LeaseRenewInterval.Seconds() + float64(o.Nodes)/o.NodeStatusInterval.Seconds()
		c.QPS = float32(2*perSecond + 500)
	default:
		return c
	}
	c.Burst = o.Burst
	if c.Burst == 0 {
		c.Burst = 2 * int(c.QPS)
	}
	return c
}

// failures logs the failures of a periodic write across all nodes at most once per
// failureLogPeriod, with a count, so that an outage does not log once per node.
type failures struct {
	log  *slog.Logger
	what string

	mu    sync.Mutex
	last  time.Time
	count int
}

const failureLogPeriod = 10 * time.Second

func (f *failures) record(now time.Time, node string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if now.Sub(f.last) < failureLogPeriod {
		return
	}
	f.log.Warn(f.what+" failing", "failures", f.count, "node", node, "err", err)
	f.last, f.count = now, 0
}
