package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

// objects keeps typed objects in a storage.Store: it owns the key layout and the encoding, and
// turns storage errors into API errors.
//
// Keys are /registry/<group>/<resource>/<namespace>/<name> for namespaced kinds and
// /registry/<group>/<resource>/<name> for cluster-scoped ones; the core group is "core".
// The stored bytes never carry a resourceVersion: it is the key's etcd ModRevision.
type objects struct {
	store  storage.Store
	codecs *codecs
}

// prefix is the key prefix of kind's objects in namespace ns ("" for all namespaces).
func prefix(kind *registry.Kind, ns string) string {
	kind = kind.StorageKind()
	group := kind.GroupVersionKind.Group
	if group == "" {
		group = "core"
	}
	p := "/registry/" + group + "/" + kind.Resource + "/"
	if kind.Namespaced && ns != "" {
		p += ns + "/"
	}
	return p
}

func key(kind *registry.Kind, ns, name string) string {
	return prefix(kind, ns) + name
}

// keyOf is the key of obj.
func keyOf(kind *registry.Kind, obj runtime.Object) string {
	m, _ := meta.Accessor(obj)
	return key(kind, m.GetNamespace(), m.GetName())
}

// encode is obj, of kind, in its storage form.
func (o *objects) encode(kind *registry.Kind, obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	if storage := kind.StorageKind(); storage != kind {
		if obj, err = registry.Convert(obj, storage.GroupVersionKind); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := o.codecs.storage.Encode(obj, &buf); err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.GetName(), err)
	}
	return buf.Bytes(), nil
}

// decode turns a stored value into a new object of kind, with its resourceVersion set.
func (o *objects) decode(kind *registry.Kind, value []byte, rev int64) (runtime.Object, error) {
	storage := kind.StorageKind()
	obj := storage.New()
	out, gvk, err := o.codecs.storage.Decode(value, nil, obj)
	if err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", kind.Resource, err)
	}
	if out != obj || *gvk != storage.GroupVersionKind {
		return nil, fmt.Errorf("decode stored %s: found %s, want %s", kind.Resource, gvk, storage.GroupVersionKind)
	}
	if storage != kind {
		if obj, err = registry.Convert(obj, kind.GroupVersionKind); err != nil {
			return nil, err
		}
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	obj.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind)
	return obj, nil
}

func (o *objects) get(ctx context.Context, kind *registry.Kind, ns, name string) (runtime.Object, error) {
	kv, err := o.store.Get(ctx, key(kind, ns, name))
	if err != nil {
		return nil, apiError(kind, name, err)
	}
	return o.decode(kind, kv.Value, kv.ModRevision)
}

// create stores obj and sets its resourceVersion.
func (o *objects) create(ctx context.Context, kind *registry.Kind, obj runtime.Object) error {
	data, err := o.encode(kind, obj)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	rev, err := o.store.Create(ctx, keyOf(kind, obj), data)
	if err != nil {
		return apiError(kind, m.GetName(), err)
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// update replaces the stored object if it still has revision expected, and sets obj's
// resourceVersion.
func (o *objects) update(ctx context.Context, kind *registry.Kind, obj runtime.Object, expected int64) error {
	data, err := o.encode(kind, obj)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	rev, err := o.store.Update(ctx, keyOf(kind, obj), data, expected)
	if err != nil {
		return apiError(kind, m.GetName(), err)
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// remove deletes the stored object if it still has revision expected, and returns it as it was
// with the deletion's revision as its resourceVersion.
func (o *objects) remove(ctx context.Context, kind *registry.Kind, ns, name string, expected int64) (runtime.Object, error) {
	kv, rev, err := o.store.Delete(ctx, key(kind, ns, name), expected)
	if err != nil {
		return nil, apiError(kind, name, err)
	}
	return o.decode(kind, kv.Value, rev)
}

// apiError maps storage errors to the API errors clients expect.
func apiError(kind *registry.Kind, name string, err error) error {
	gr := kind.GroupVersionResource().GroupResource()
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(errObjectModified))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, storage.ErrFutureRevision):
		return apierrors.NewTimeoutError("Too large resource version", 1)
	}
	return err
}

// errObjectModified is kube-apiserver's wording for an optimistic-concurrency failure.
const errObjectModified = "the object has been modified; please apply your changes to the latest version and try again"

func revisionOf(obj runtime.Object) int64 {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	return rv
}
