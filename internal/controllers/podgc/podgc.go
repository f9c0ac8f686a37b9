// Package podgc deletes pods that nothing else will finish, as kube-controller-manager's pod
// garbage collector does:
//
//   - orphans: pods bound to a node that no longer exists (a lost node was deleted, so no agent
//     will ever stop them; their controllers have already replaced them elsewhere);
//   - pods being deleted on a node tainted node.kubernetes.io/out-of-service, which an
//     administrator sets on a node known to be shut down;
//   - terminated pods beyond a threshold (12,500 by default), oldest first.
//
// Orphans and out-of-service pods are deleted at once (grace period 0) after being marked
// with the DisruptionTarget condition, as upstream does.
package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// period is how often the collector looks, kube-controller-manager's gcCheckPeriod.
	period = 20 * time.Second
	// DefaultTerminatedThreshold is how many terminated pods are kept
	// (--terminated-pod-gc-threshold).
	DefaultTerminatedThreshold = 12500
	// taintOutOfService marks a node an administrator knows to be shut down.
	taintOutOfService = "node.kubernetes.io/out-of-service"
)

// Collector deletes orphaned, out-of-service and surplus terminated pods.
type Collector struct {
	client    kubernetes.Interface
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	threshold int
	log       *slog.Logger
	now       func() time.Time
	// kick asks for a pass now: a node was deleted, its pods are orphans.
	kick chan struct{}
}

// New returns a collector over factory's informers that deletes through client.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Collector {
	pods, nodes := factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	c := &Collector{
		client:    client,
		pods:      pods.Lister(),
		nodes:     nodes.Lister(),
		synced:    []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		threshold: DefaultTerminatedThreshold,
		log:       slog.Default().With("controller", "podgc"),
		now:       time.Now,
		kick:      make(chan struct{}, 1),
	}
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(any) {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}})
	return c
}

// Run collects every period until ctx is done.
func (c *Collector) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("podgc: caches did not sync: %w", ctx.Err())
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if err := c.collect(ctx); err != nil {
			c.log.Error("collect pods", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-c.kick:
		}
	}
}

// collect makes one pass.
func (c *Collector) collect(ctx context.Context) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	var terminated []*corev1.Pod
	gone := map[string]bool{} // per pass: one API read per missing node, not per pod
	for _, pod := range pods {
		switch {
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			terminated = append(terminated, pod)
		case pod.Spec.NodeName == "":
		case c.orphaned(ctx, gone, pod.Spec.NodeName):
			errs = append(errs, c.forceDelete(ctx, pod, "PodGC: node no longer exists"))
		case pod.DeletionTimestamp != nil && c.outOfService(pod.Spec.NodeName):
			errs = append(errs, c.forceDelete(ctx, pod, "PodGC: node is out of service"))
		}
	}
	if extra := len(terminated) - c.threshold; extra > 0 {
		slices.SortFunc(terminated, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		for _, pod := range terminated[:extra] {
			errs = append(errs, c.delete(ctx, pod, metav1.DeleteOptions{}))
		}
	}
	return errors.Join(errs...)
}

// orphaned reports whether node is gone: missing from the cache and, in case the cache lags
// behind a node just created, from the API. gone remembers the API's answers of this pass.
func (c *Collector) orphaned(ctx context.Context, gone map[string]bool, node string) bool {
	if _, err := c.nodes.Get(node); err == nil {
		return false
	}
	if missing, ok := gone[node]; ok {
		return missing
	}
	_, err := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	gone[node] = apierrors.IsNotFound(err)
	return gone[node]
}

func (c *Collector) outOfService(node string) bool {
	n, err := c.nodes.Get(node)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == taintOutOfService && t.Effect == corev1.TaintEffectNoExecute
	})
}

// forceDelete marks pod as disrupted and deletes it with grace period 0.
func (c *Collector) forceDelete(ctx context.Context, pod *corev1.Pod, message string) error {
	p := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByPodGC",
		Message: message, LastTransitionTime: metav1.NewTime(c.now())}
	p.Status.Conditions = slices.DeleteFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.DisruptionTarget })
	p.Status.Conditions = append(p.Status.Conditions, cond)
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		p.Status.Phase = corev1.PodFailed
	}
	if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("deleting pod", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "why", message)
	return c.delete(ctx, pod, *metav1.NewDeleteOptions(0))
}

func (c *Collector) delete(ctx context.Context, pod *corev1.Pod, opts metav1.DeleteOptions) error {
	opts.Preconditions = metav1.NewUIDPreconditions(string(pod.UID))
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
