package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Objects is the API server's own storage as plugins see it. Reads are live, never from a
// cache: several API servers may share the cluster, and a plugin deciding on stale state
// (a quota's usage, a class just created) would decide wrongly.
type Objects interface {
	// Get reads one object; a missing one is a NotFound API error.
	Get(ctx context.Context, resource schema.GroupVersionResource, namespace, name string) (runtime.Object, error)
	// List reads every object of resource in namespace ("" for a cluster-scoped resource),
	// each with its resourceVersion.
	List(ctx context.Context, resource schema.GroupVersionResource, namespace string) ([]runtime.Object, error)
	// UpdateStatus writes obj's status through the status subresource, only if obj's
	// resourceVersion is still the stored one; otherwise it returns a Conflict API error.
	UpdateStatus(ctx context.Context, resource schema.GroupVersionResource, obj runtime.Object) (runtime.Object, error)
}
