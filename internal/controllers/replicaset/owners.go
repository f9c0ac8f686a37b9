package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
)

// Owners is the kind of object whose pods the controller keeps. The algorithm works on
// ReplicaSets; another kind with the same semantics (ReplicationController) is seen through
// this interface as ReplicaSets converted from it, as upstream's replication controller does.
type Owners interface {
	// Kind is what the controller references of the owner's pods name.
	Kind() schema.GroupVersionKind
	// Informer is the shared informer of the owner kind.
	Informer() cache.SharedIndexInformer
	List(namespace string) ([]*appsv1.ReplicaSet, error)
	Get(namespace, name string) (*appsv1.ReplicaSet, error)
	// GetLive reads the owner from the API server rather than the cache.
	GetLive(ctx context.Context, namespace, name string) (metav1.Object, error)
	// UpdateStatus writes rs.Status to the owner's status subresource.
	UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) error
	// Object is the owner as the API serves it, what events are recorded on.
	Object(rs *appsv1.ReplicaSet) runtime.Object
}

// replicaSets are ReplicaSets themselves.
type replicaSets struct {
	client   kubernetes.Interface
	informer cache.SharedIndexInformer
	lister   appslisters.ReplicaSetLister
}

// ReplicaSets returns the ReplicaSets of factory, written through client.
func ReplicaSets(client kubernetes.Interface, factory informers.SharedInformerFactory) Owners {
	i := factory.Apps().V1().ReplicaSets()
	return &replicaSets{client: client, informer: i.Informer(), lister: i.Lister()}
}

func (r *replicaSets) Kind() schema.GroupVersionKind       { return replicaSetKind }
func (r *replicaSets) Informer() cache.SharedIndexInformer { return r.informer }

func (r *replicaSets) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(namespace).List(labels.Everything())
}

func (r *replicaSets) Get(namespace, name string) (*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(namespace).Get(name)
}

func (r *replicaSets) GetLive(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return r.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (r *replicaSets) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) error {
	_, err := r.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
	return err
}

func (r *replicaSets) Object(rs *appsv1.ReplicaSet) runtime.Object { return rs }

// replicaSetKind is what the controller references of a ReplicaSet's pods name.
var replicaSetKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
