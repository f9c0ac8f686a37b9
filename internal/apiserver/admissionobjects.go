package apiserver

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/internal/apiserver/admission"
	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

// admissionObjects gives admission plugins live access to the stored objects.
type admissionObjects struct{ s *Server }

// Objects reads the stored objects live, as admission plugins do, for the parts built
// around the server that need them (the bootstrap token authenticator reads Secrets).
func (s *Server) Objects() admission.Objects { return admissionObjects{s} }

var _ admission.Objects = admissionObjects{}

func (a admissionObjects) kind(resource schema.GroupVersionResource) (*registry.Kind, error) {
	kind, ok := a.s.kinds.byGVR[resource]
	if !ok {
		return nil, fmt.Errorf("admission: %s is not served", resource)
	}
	return kind, nil
}

func (a admissionObjects) Get(ctx context.Context, resource schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	kind, err := a.kind(resource)
	if err != nil {
		return nil, err
	}
	return a.s.objects.get(ctx, kind, namespace, name)
}

func (a admissionObjects) List(ctx context.Context, resource schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	kind, err := a.kind(resource)
	if err != nil {
		return nil, err
	}
	res, err := a.s.objects.store.List(ctx, prefix(kind, namespace), storage.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", resource.Resource, err)
	}
	out := make([]runtime.Object, 0, len(res.Items))
	for _, kv := range res.Items {
		obj, err := a.s.objects.decode(kind, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// UpdateStatus goes through the whole status-update path (strategy, validation, managed
// fields) as the server itself, with obj's resourceVersion as the precondition.
func (a admissionObjects) UpdateStatus(ctx context.Context, resource schema.GroupVersionResource, obj runtime.Object) (runtime.Object, error) {
	kind, err := a.kind(resource)
	if err != nil {
		return nil, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	o := writeOptions{subresource: "status", user: systemUser, manager: "kube-apiserver"}
	out, _, err := a.s.updateObject(ctx, kind, m.GetNamespace(), m.GetName(), func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, o)
	return out, err
}
