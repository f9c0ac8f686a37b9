package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// replicationControllers are core/v1 ReplicationControllers seen as ReplicaSets.
type replicationControllers struct {
	client   kubernetes.Interface
	informer cache.SharedIndexInformer
	lister   corelisters.ReplicationControllerLister
}

// ReplicationControllers returns the ReplicationControllers of factory, written through
// client.
func ReplicationControllers(client kubernetes.Interface, factory informers.SharedInformerFactory) Owners {
	i := factory.Core().V1().ReplicationControllers()
	return &replicationControllers{client: client, informer: i.Informer(), lister: i.Lister()}
}

// replicationControllerKind is what the controller references of an RC's pods name.
var replicationControllerKind = corev1.SchemeGroupVersion.WithKind("ReplicationController")

func (r *replicationControllers) Kind() schema.GroupVersionKind       { return replicationControllerKind }
func (r *replicationControllers) Informer() cache.SharedIndexInformer { return r.informer }

func (r *replicationControllers) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := r.lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, len(rcs))
	for i, rc := range rcs {
		out[i] = replicaSetFromRC(rc)
	}
	return out, nil
}

func (r *replicationControllers) Get(namespace, name string) (*appsv1.ReplicaSet, error) {
	rc, err := r.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return replicaSetFromRC(rc), nil
}

func (r *replicationControllers) GetLive(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return r.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (r *replicationControllers) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) error {
	_, err := r.client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rcFromReplicaSet(rs), metav1.UpdateOptions{})
	return err
}

func (r *replicationControllers) Object(rs *appsv1.ReplicaSet) runtime.Object {
	return rcFromReplicaSet(rs)
}

// replicaSetFromRC converts rc to the ReplicaSet with the same meaning: its selector map
// becomes matchLabels, its conditions ReplicaSet conditions of the same types.
func replicaSetFromRC(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

// rcFromReplicaSet converts a ReplicaSet made by replicaSetFromRC back.
func rcFromReplicaSet(rs *appsv1.ReplicaSet) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{
		ObjectMeta: *rs.ObjectMeta.DeepCopy(),
		Spec: corev1.ReplicationControllerSpec{
			Replicas:        rs.Spec.Replicas,
			MinReadySeconds: rs.Spec.MinReadySeconds,
			Template:        rs.Spec.Template.DeepCopy(),
		},
		Status: corev1.ReplicationControllerStatus{
			Replicas:             rs.Status.Replicas,
			FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
			ReadyReplicas:        rs.Status.ReadyReplicas,
			AvailableReplicas:    rs.Status.AvailableReplicas,
			ObservedGeneration:   rs.Status.ObservedGeneration,
		},
	}
	if rs.Spec.Selector != nil {
		rc.Spec.Selector = rs.Spec.Selector.MatchLabels
	}
	for _, c := range rs.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rc
}
