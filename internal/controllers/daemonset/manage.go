package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/controller/daemon/util"

	"github.com/gantryhq/gantry/internal/controller"
)

// burst caps the pods created or deleted in one reconcile, as upstream does.
const burst = 250

// manage creates a pod on every eligible node that lacks one and deletes the pods that must
// go: on ineligible nodes, failed or succeeded ones, and extra ones. It reports whether it
// asked for any change.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) (bool, error) {
	byNode := podsByNode(pods, false, c.log)
	elig := newEligibility(ds)
	surge := allowsSurge(ds)
	var create []string
	var del []*corev1.Pod
	exists := map[string]bool{}
	for _, node := range nodes {
		exists[node.Name] = true
		shouldRun, shouldContinue := elig.check(node)
		nodePods, scheduled := byNode[node.Name]
		switch {
		case shouldRun && !scheduled:
			create = append(create, node.Name)
		case shouldContinue:
			running, gone := c.prune(key, ds, node.Name, nodePods)
			del = append(del, gone...)
			switch {
			case len(running) == 0 && surge && shouldRun:
				// Surging needs a pod on the node that is not being deleted.
				create = append(create, node.Name)
			case len(running) > 1 && !surge:
				oldestFirst(running)
				del = append(del, running[1:]...)
			case len(running) > 1:
				del = append(del, surplus(ds, running, hash, c.now())...)
			}
		case scheduled:
			for _, p := range nodePods {
				if p.DeletionTimestamp == nil {
					del = append(del, p)
				}
			}
		}
	}
	// Unscheduled pods aimed at a node that is gone would wait forever.
	for node, nodePods := range byNode {
		if exists[node] {
			continue
		}
		for _, p := range nodePods {
			if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
				del = append(del, p)
			}
		}
	}
	return len(create) > 0 || len(del) > 0, c.syncNodes(ctx, key, ds, create, del, hash)
}

// prune splits the pods of a node that may keep one into those still running and those to
// delete: failed pods (at most once per backoff period, so a node that keeps failing them is
// not hammered) and succeeded pods. Pods being deleted are in neither.
func (c *Controller) prune(key string, ds *appsv1.DaemonSet, node string, pods []*corev1.Pod) (running, del []*corev1.Pod) {
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
		case p.Status.Phase == corev1.PodFailed:
			// Per node and generation: a new spec may fix what made the pods fail.
			backoffKey := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Generation, node)
			now := c.backoff.Clock.Now()
			if c.backoff.IsInBackOffSinceUpdate(backoffKey, now) {
				c.queue.EnqueueAfter(key, c.backoff.Get(backoffKey))
				continue
			}
			c.backoff.Next(backoffKey, now)
			c.log.Info("deleting failed daemon pod", "pod", p.Namespace+"/"+p.Name, "node", node)
			del = append(del, p)
		case p.Status.Phase == corev1.PodSucceeded:
			del = append(del, p)
		default:
			running = append(running, p)
		}
	}
	return running, del
}

// surplus picks, when surging, the pods of a node to delete: all but the oldest new and
// oldest old pod, and of those two the old one once it is not ready or the new one is
// available.
func surplus(ds *appsv1.DaemonSet, running []*corev1.Pod, hash string, now time.Time) []*corev1.Pod {
	oldestFirst(running)
	var del []*corev1.Pod
	var newPod, oldPod *corev1.Pod
	for _, p := range running {
		switch {
		case p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash && newPod == nil:
			newPod = p
		case p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash && oldPod == nil:
			oldPod = p
		default:
			del = append(del, p)
		}
	}
	if newPod != nil && oldPod != nil &&
		(!podutil.IsPodReady(oldPod) || podutil.IsPodAvailable(newPod, ds.Spec.MinReadySeconds, metav1.NewTime(now))) {
		del = append(del, oldPod)
	}
	return del
}

// syncNodes creates a pod on each of the nodes and deletes the pods, recording the
// expectations first so that a lagging cache never causes a second round.
func (c *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []string, pods []*corev1.Pod, hash string) error {
	nodes = nodes[:min(len(nodes), burst)]
	pods = pods[:min(len(pods), burst)]
	if len(nodes) == 0 && len(pods) == 0 {
		return nil
	}
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.exp.Expect(key, len(nodes), uids)

	generation, err := util.GetTemplateGeneration(ds)
	if err != nil {
		generation = nil // the hash alone tells new pods from old
	}
	template := util.CreatePodTemplate(ds.Spec.Template, generation, hash)
	created, createErr := controller.SlowStart(len(nodes), func(i int) error { return c.createPod(ctx, ds, &template, nodes[i]) })
	// Creates never made will never be observed.
	for range len(nodes) - created {
		c.exp.Created(key)
	}
	if created > 0 {
		c.log.Debug("created daemon pods", "daemonset", key, "count", created)
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = []error{createErr}
	)
	for _, p := range pods {
		wg.Go(func() {
			uid := p.UID
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err == nil {
				return
			}
			// Not deleted, so never observed as deleted.
			c.exp.Deleted(key, string(uid))
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createPod creates ds's pod for node from template (which carries the default tolerations
// and the revision labels), pinned to node by required node affinity on metadata.name so
// that the scheduler binds it there.
func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, daemonSetKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Affinity = util.ReplaceDaemonSetPodNodeNameNodeAffinity(pod.Spec.Affinity, node)
	_, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create pod for daemonset %s/%s on node %s: %w", ds.Namespace, ds.Name, node, err)
	}
	return nil
}

// allowsSurge reports whether ds may run a second pod on a node during an update.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := util.SurgeCount(ds, 1)
	return err == nil && n > 0
}
