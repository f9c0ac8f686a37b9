package admission

import (
	"context"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeObjects is an in-memory Objects: resourceVersions are counters, and UpdateStatus
// conflicts as the server does.
type fakeObjects struct {
	mu   sync.Mutex
	rv   int
	objs map[schema.GroupVersionResource][]runtime.Object
	// beforeUpdate, if set, runs before each UpdateStatus (to simulate a concurrent writer).
	beforeUpdate func()
}

func newFakeObjects(objs map[schema.GroupVersionResource][]runtime.Object) *fakeObjects {
	f := &fakeObjects{objs: map[schema.GroupVersionResource][]runtime.Object{}}
	for r, list := range objs {
		for _, o := range list {
			f.add(r, o)
		}
	}
	return f
}

func (f *fakeObjects) add(r schema.GroupVersionResource, obj runtime.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.Itoa(f.rv))
	f.objs[r] = append(f.objs[r], obj)
}

func (f *fakeObjects) Get(_ context.Context, r schema.GroupVersionResource, ns, name string) (runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.objs[r] {
		m, _ := meta.Accessor(o)
		if m.GetNamespace() == ns && m.GetName() == name {
			return o.DeepCopyObject(), nil
		}
	}
	return nil, apierrors.NewNotFound(r.GroupResource(), name)
}

func (f *fakeObjects) List(_ context.Context, r schema.GroupVersionResource, ns string) ([]runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Object
	for _, o := range f.objs[r] {
		if m, _ := meta.Accessor(o); ns == "" || m.GetNamespace() == ns {
			out = append(out, o.DeepCopyObject())
		}
	}
	return out, nil
}

func (f *fakeObjects) UpdateStatus(_ context.Context, r schema.GroupVersionResource, obj runtime.Object) (runtime.Object, error) {
	if f.beforeUpdate != nil {
		f.beforeUpdate()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, _ := meta.Accessor(obj)
	for i, o := range f.objs[r] {
		cur, _ := meta.Accessor(o)
		if cur.GetNamespace() != m.GetNamespace() || cur.GetName() != m.GetName() {
			continue
		}
		if cur.GetResourceVersion() != m.GetResourceVersion() {
			return nil, apierrors.NewConflict(r.GroupResource(), m.GetName(), nil)
		}
		f.rv++
		next := obj.DeepCopyObject()
		nm, _ := meta.Accessor(next)
		nm.SetResourceVersion(strconv.Itoa(f.rv))
		f.objs[r][i] = next
		return next.DeepCopyObject(), nil
	}
	return nil, apierrors.NewNotFound(r.GroupResource(), m.GetName())
}
