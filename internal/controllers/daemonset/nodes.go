package daemonset

import (
	"log/slog"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/daemon/util"
)

// eligibility decides, for one DaemonSet, which nodes may run its pod. Build it once per
// DaemonSet: parsing the affinity is the costly part.
type eligibility struct {
	nodeName    string
	affinity    nodeaffinity.RequiredNodeAffinity
	tolerations []corev1.Toleration
}

func newEligibility(ds *appsv1.DaemonSet) eligibility {
	spec := ds.Spec.Template.Spec.DeepCopy()
	util.AddOrUpdateDaemonPodTolerations(spec)
	return eligibility{
		nodeName:    spec.NodeName,
		affinity:    nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity),
		tolerations: spec.Tolerations,
	}
}

// check reports whether a pod should be created on node (shouldRun) and whether one already
// there may stay (shouldContinue): an untolerated NoSchedule taint keeps new pods off but
// does not evict, an untolerated NoExecute taint does both.
func (e eligibility) check(node *corev1.Node) (shouldRun, shouldContinue bool) {
	if e.nodeName != "" && e.nodeName != node.Name {
		return false, false
	}
	// Affinity that does not parse counts as not matching, as upstream.
	if ok, _ := e.affinity.Match(node); !ok {
		return false, false
	}
	if e.untolerated(node, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) {
		return false, !e.untolerated(node, corev1.TaintEffectNoExecute)
	}
	return true, true
}

// untolerated reports whether node has a taint with one of effects that the tolerations do
// not tolerate.
func (e eligibility) untolerated(node *corev1.Node, effects ...corev1.TaintEffect) bool {
	_, found := v1helper.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, e.tolerations, func(t *corev1.Taint) bool {
		for _, eff := range effects {
			if t.Effect == eff {
				return true
			}
		}
		return false
	}, false)
	return found
}

// podsByNode maps each node name to the pods of ds meant for it (by spec.nodeName, or for a
// pod not yet scheduled by its matchFields affinity). Finished pods that are being deleted
// are left out unless withDeletedFinished: nothing more is to be done with them.
func podsByNode(pods []*corev1.Pod, withDeletedFinished bool, log *slog.Logger) map[string][]*corev1.Pod {
	m := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !withDeletedFinished && finished(p) && p.DeletionTimestamp != nil {
			continue
		}
		node, err := util.GetTargetNodeName(p)
		if err != nil {
			log.Debug("pod has no target node", "pod", p.Namespace+"/"+p.Name, "err", err)
			continue
		}
		m[node] = append(m[node], p)
	}
	return m
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// oldestFirst sorts pods scheduled first, then by creation time, then by name: the first is
// the one a node keeps.
func oldestFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}
