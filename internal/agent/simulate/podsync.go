package simulate

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/controller"
)

// boundPods selects the pods bound to some node. The pods of all simulated nodes come through
// one watch, filtered here: a field selector cannot say "one of N nodes", and one watch per
// node would cost the server N watchers that each look at every pod change.
var boundPods = fields.OneTermNotEqualSelector("spec.nodeName", "").String()

// slimPod is the informer's transform: pods on other nodes are cut down to their name
// and node (the filter still needs to tell them apart, and they stay out of every handler),
// and the managedFields of ours are dropped (a status update without them keeps the stored
// ones).
func (a *agent) slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	if _, ours := a.nodes[pod.Spec.NodeName]; !ours {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion},
			Spec:       corev1.PodSpec{NodeName: pod.Spec.NodeName},
		}, nil
	}
	pod.ManagedFields = nil
	return pod, nil
}

// podOf is the pod in an informer event, or nil.
func podOf(obj any) *corev1.Pod {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// podHandler passes the events of pods on simulated nodes to queue, and keeps the agent's
// memory of each pod (first seen, address) from their arrival to their removal.
func (a *agent) podHandler(queue *controller.Controller) cache.ResourceEventHandler {
	return cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			pod := podOf(obj)
			return pod != nil && a.nodes[pod.Spec.NodeName] != nil
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				a.podSeen(podOf(obj))
				queue.Enqueue(obj)
			},
			UpdateFunc: func(_, obj any) { queue.Enqueue(obj) },
			DeleteFunc: func(obj any) { a.podGone(podOf(obj)) },
		},
	}
}

// podSeen records when the agent first saw pod, and the address of a pod already running
// (started before the agent restarted).
func (a *agent) podSeen(pod *corev1.Pod) {
	a.podTimes.LoadOrStore(pod.UID, podTimes{seen: a.clock.Now()})
	if pod.Status.PodIP != "" && pod.Status.Phase == corev1.PodRunning && !pod.Spec.HostNetwork {
		a.nodes[pod.Spec.NodeName].ips.reserve(pod.UID, pod.Status.PodIP)
	}
}

// podGone forgets pod.
func (a *agent) podGone(pod *corev1.Pod) {
	a.podTimes.Delete(pod.UID)
	if n := a.nodes[pod.Spec.NodeName]; n != nil {
		n.ips.release(pod.UID)
	}
}

func (a *agent) timesOf(pod *corev1.Pod) podTimes {
	t, _ := a.podTimes.LoadOrStore(pod.UID, podTimes{seen: a.clock.Now()})
	return t.(podTimes)
}

// syncPod is the reconciler of pods: it moves pod key one step along its life (nextStep).
func (a *agent) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return a.advancePod(ctx, pod)
}

// advancePod does what nextStep says for pod. A status write that conflicts is decided again
// on a fresh copy from the API.
func (a *agent) advancePod(ctx context.Context, pod *corev1.Pod) error {
	n := a.nodes[pod.Spec.NodeName]
	if n == nil {
		return nil
	}
	pods := a.client.CoreV1().Pods(pod.Namespace)
	for attempt := 0; ; attempt++ {
		now := a.clock.Now()
		t := a.timesOf(pod)
		s := nextStep(pod, t, now, &a.opts)
		var err error
		switch s.action {
		case actNone:
			return nil
		case actWait:
			return controller.RequeueAfter(s.after)
		case actDelete:
			return a.deletePod(ctx, pod)
		case actStart:
			podIP := n.hostIP.String()
			if !pod.Spec.HostNetwork {
				addr, unique := n.ips.assign(pod.UID)
				if !unique && a.warnedIPs.CompareAndSwap(false, true) {
					a.log.Warn("a node has more pods than pod addresses; pod IPs repeat (give a larger pod CIDR)", "node", n.name, "pod-cidr", a.opts.PodCIDR)
				}
				podIP = addr.String()
			}
			_, err = pods.UpdateStatus(ctx, startedPod(pod, metav1.NewTime(now), n.hostIP.String(), podIP), metav1.UpdateOptions{})
			if err == nil {
				a.podTimes.Store(pod.UID, podTimes{seen: t.seen, started: now})
				if ownedByJob(pod) {
					return controller.RequeueAfter(a.opts.JobDuration)
				}
				return nil
			}
		case actReadiness:
			_, err = pods.UpdateStatus(ctx, withReadiness(pod.DeepCopy(), metav1.NewTime(now)), metav1.UpdateOptions{})
			if err == nil {
				return nil
			}
		case actComplete:
			_, err = pods.UpdateStatus(ctx, completedPod(pod, metav1.NewTime(now)), metav1.UpdateOptions{})
			if err == nil {
				// Its sandbox is gone: the address may be reused, as on a real node.
				n.ips.release(pod.UID)
				return nil
			}
		}
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt == maxConflictRetries:
			return fmt.Errorf("%s pod %s/%s: %w", s.action, pod.Namespace, pod.Name, err)
		}
		fresh, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if fresh.UID != pod.UID {
			return nil // replaced: the new pod has events of its own
		}
		pod = fresh
	}
}

// deletePod finishes the deletion of pod: its containers are "stopped" at once, so it goes
// with grace period 0. The UID precondition keeps a new pod of the same name safe.
func (a *agent) deletePod(ctx context.Context, pod *corev1.Pod) error {
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
}
