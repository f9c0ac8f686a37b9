package daemonset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/controller/daemon/util"
)

// status computes ds's status counts from the nodes and its pods. Each eligible node is
// judged by its oldest pod.
func (c *Controller) status(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) appsv1.DaemonSetStatus {
	st := *ds.Status.DeepCopy()
	st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberMisscheduled = 0, 0, 0
	st.NumberReady, st.UpdatedNumberScheduled, st.NumberAvailable = 0, 0, 0
	byNode := podsByNode(pods, false, c.log)
	elig := newEligibility(ds)
	generation, err := util.GetTemplateGeneration(ds)
	if err != nil {
		generation = nil
	}
	now := metav1.NewTime(c.now())
	for _, node := range nodes {
		shouldRun, _ := elig.check(node)
		nodePods := byNode[node.Name]
		if !shouldRun {
			if len(nodePods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(nodePods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		oldestFirst(nodePods)
		p := nodePods[0]
		if podutil.IsPodReady(p) {
			st.NumberReady++
			if podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if util.IsPodUpdated(p, hash, generation) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// updateStatus writes ds's status when it changed; observed raises observedGeneration to
// ds's generation. With minReadySeconds, ready pods become available later: look again
// then.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, observed bool) error {
	st := c.status(ds, nodes, pods, hash)
	if observed {
		st.ObservedGeneration = ds.Generation
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.queue.EnqueueAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if apiequality.Semantic.DeepEqual(st, ds.Status) {
		return nil
	}
	ds = ds.DeepCopy()
	ds.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
