package disruption

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// scaled is a pod controller and the replicas it declares.
type scaled struct {
	uid      types.UID
	replicas int32
}

// expectedScale sums the replicas of the controllers of pods, each controller once. It also
// names the pods that have no controller at all; a pod whose controller cannot be found is an
// error, as upstream: the budget's numbers would be wrong.
func (c *Controller) expectedScale(pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, known := scales[ref.UID]; known {
			continue
		}
		s, err := c.controllerScale(ref, pod.Namespace)
		if err != nil {
			return 0, nil, err
		}
		if s == nil {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[s.uid] = s.replicas
	}
	var expected int32
	for _, n := range scales {
		expected += n
	}
	return expected, unmanaged, nil
}

// controllerScale finds the workload that ref names and its replicas: a
// ReplicationController, the Deployment of a ReplicaSet, a ReplicaSet that no Deployment
// controls, a StatefulSet or a Deployment. It answers nil when there is none with ref's UID,
// and an error for a kind that has no scale (a Job, a DaemonSet...), as upstream.
func (c *Controller) controllerScale(ref *metav1.OwnerReference, ns string) (*scaled, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("parse apiVersion of controller %s %q: %w", ref.Kind, ref.Name, err)
	}
	apps := slices.Contains([]string{"apps", "extensions"}, gv.Group)
	switch {
	case ref.Kind == "ReplicationController" && gv.Group == "":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return nil, nil
		}
		return &scaled{rc.UID, replicas(rc.Spec.Replicas)}, nil
	case ref.Kind == "ReplicaSet" && apps:
		rs, err := c.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return nil, nil
		}
		owner := metav1.GetControllerOf(rs)
		if owner == nil || owner.Kind != "Deployment" {
			return &scaled{rs.UID, replicas(rs.Spec.Replicas)}, nil
		}
		// A Deployment's ReplicaSets come and go during a rollout; the Deployment's replicas
		// are what its pods should number.
		ogv, err := schema.ParseGroupVersion(owner.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("parse apiVersion of controller %s %q: %w", owner.Kind, owner.Name, err)
		}
		if ogv.Group != "apps" && ogv.Group != "extensions" {
			return nil, nil
		}
		d, err := c.deployments.Deployments(ns).Get(owner.Name)
		if err != nil || d.UID != owner.UID {
			return nil, nil
		}
		return &scaled{d.UID, replicas(d.Spec.Replicas)}, nil
	case ref.Kind == "StatefulSet" && gv.Group == "apps":
		ss, err := c.statefulSets.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return nil, nil
		}
		return &scaled{ss.UID, replicas(ss.Spec.Replicas)}, nil
	case ref.Kind == "Deployment" && apps:
		// Upstream reads any other controller through its scale subresource; of the built-in
		// kinds only a Deployment has one.
		d, err := c.deployments.Deployments(ns).Get(ref.Name)
		if err != nil || d.UID != ref.UID {
			return nil, nil
		}
		return &scaled{d.UID, replicas(d.Spec.Replicas)}, nil
	case ref.Kind == "ReplicationController" || ref.Kind == "ReplicaSet" || ref.Kind == "StatefulSet":
		return nil, nil
	}
	plural, _ := meta.UnsafeGuessKindToResource(gv.WithKind(ref.Kind))
	return nil, fmt.Errorf("%s does not implement the scale subresource", plural.GroupResource())
}

// replicas reads a replicas field; the API server defaults an unset one to 1.
func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
