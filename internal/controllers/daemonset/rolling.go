package daemonset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/controller/daemon/util"
)

// rollingUpdate replaces old pods (those without the current hash) within maxUnavailable,
// or, with maxSurge, by starting new pods next to old ones. manage creates the pods on the
// nodes emptied here.
func (c *Controller) rollingUpdate(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) error {
	byNode := podsByNode(pods, false, c.log)
	elig := newEligibility(ds)
	eligible := map[string]bool{}
	desired := 0
	for _, node := range nodes {
		if shouldRun, _ := elig.check(node); shouldRun {
			eligible[node.Name] = true
			desired++
			if _, ok := byNode[node.Name]; !ok {
				byNode[node.Name] = nil
			}
		}
	}
	maxUnavailable, err := util.UnavailableCount(ds, desired)
	if err != nil {
		return fmt.Errorf("daemonset %s: maxUnavailable: %w", key, err)
	}
	maxSurge, err := util.SurgeCount(ds, desired)
	if err != nil {
		return fmt.Errorf("daemonset %s: maxSurge: %w", key, err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		// Validation forbids both zero; should it happen, make progress as upstream does.
		maxUnavailable = 1
	}
	now := metav1.NewTime(c.now())
	available := func(p *corev1.Pod) bool { return podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	if maxSurge == 0 {
		return c.syncNodes(ctx, key, ds, nil, replaceWithin(ds, byNode, hash, maxUnavailable, available), hash)
	}
	create, del := surgeWithin(ds, byNode, eligible, desired, hash, maxSurge, available)
	return c.syncNodes(ctx, key, ds, create, del, hash)
}

// newAndOld returns the new and the old pod of a node (ignoring pods being deleted); ok is
// false when there is more than one of either, which manage resolves first.
func newAndOld(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	generation, err := util.GetTemplateGeneration(ds)
	if err != nil {
		generation = nil
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if util.IsPodUpdated(p, hash, generation) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// replaceWithin picks the old pods to delete without surge: every unavailable old pod, and
// available ones while fewer than maxUnavailable nodes are without an available pod.
// Nodes being worked on (no pod, both pods, extra pods) and unavailable new pods count as
// unavailable.
func replaceWithin(ds *appsv1.DaemonSet, byNode map[string][]*corev1.Pod, hash string, maxUnavailable int, available func(*corev1.Pod) bool) []*corev1.Pod {
	unavailable := 0
	var replace, candidates []*corev1.Pod
	for _, pods := range byNode {
		newPod, oldPod, ok := newAndOld(ds, pods, hash)
		switch {
		case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
			unavailable++
		case newPod != nil:
			if !available(newPod) {
				unavailable++
			}
		case !available(oldPod):
			replace = append(replace, oldPod)
			unavailable++
		default:
			candidates = append(candidates, oldPod)
		}
	}
	n := min(max(maxUnavailable-unavailable, 0), len(candidates))
	return append(replace, candidates[:n]...)
}

// surgeWithin picks, with surge, the nodes to start a new pod on and the old pods to delete:
// a new pod next to every unavailable old pod and next to available ones on up to maxSurge
// nodes at a time; an old pod goes once the new one beside it is available. Old pods on
// nodes no longer eligible go only while more pods are available than desired, so that
// moving the DaemonSet keeps it fully available.
func surgeWithin(ds *appsv1.DaemonSet, byNode map[string][]*corev1.Pod, eligible map[string]bool, desired int, hash string, maxSurge int, available func(*corev1.Pod) bool) (create []string, del []*corev1.Pod) {
	surging, numAvailable := 0, 0
	var candidates []string
	var ineligible []*corev1.Pod
	for node, pods := range byNode {
		newPod, oldPod, ok := newAndOld(ds, pods, hash)
		if !ok {
			surging++
			continue
		}
		if (oldPod != nil && available(oldPod)) || (oldPod == nil && newPod != nil && available(newPod)) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
			// manage creates what is missing.
		case newPod == nil && !available(oldPod):
			if !eligible[node] {
				del = append(del, oldPod)
				continue
			}
			create = append(create, node)
		case newPod == nil:
			if !eligible[node] {
				ineligible = append(ineligible, oldPod)
				continue
			}
			candidates = append(candidates, node)
		case !available(newPod):
			surging++
		default:
			del = append(del, oldPod)
		}
	}
	n := min(max(numAvailable-desired, 0), len(ineligible))
	del = append(del, ineligible[:n]...)
	m := min(max(maxSurge-surging, 0), len(candidates))
	return append(create, candidates[:m]...), del
}
