package dns

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// objects keeps slim copies of the Services and EndpointSlices seen through the informers and
// rebuilds one Service's records in the index whenever any of its objects changes.
type objects struct {
	zone string
	ix   *index

	mu       sync.Mutex
	services map[key]*service
	slices   map[key]map[string]*endpointSlice // Service → slice name → slice
	owner    map[key]string                    // slice (namespace, name) → its Service's name
}

func newObjects(zone string, ix *index) *objects {
	return &objects{
		zone:     zone,
		ix:       ix,
		services: map[key]*service{},
		slices:   map[key]map[string]*endpointSlice{},
		owner:    map[key]string{},
	}
}

func (o *objects) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.setService(obj, false) },
		UpdateFunc: func(_, obj any) { o.setService(obj, false) },
		DeleteFunc: func(obj any) { o.setService(obj, true) },
	}
}

func (o *objects) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.setSlice(obj, false) },
		UpdateFunc: func(_, obj any) { o.setSlice(obj, false) },
		DeleteFunc: func(obj any) { o.setSlice(obj, true) },
	}
}

func (o *objects) setService(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	k := key{ns: s.Namespace, name: s.Name}
	o.mu.Lock()
	defer o.mu.Unlock()
	if deleted {
		delete(o.services, k)
	} else {
		o.services[k] = slimService(s)
	}
	o.rebuild(k)
}

func (o *objects) setSlice(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	sk := key{ns: es.Namespace, name: es.Name}
	o.mu.Lock()
	defer o.mu.Unlock()
	// A slice's Service label could change; drop it from the Service it belonged to first.
	if prev, ok := o.owner[sk]; ok {
		pk := key{ns: es.Namespace, name: prev}
		delete(o.slices[pk], es.Name)
		if len(o.slices[pk]) == 0 {
			delete(o.slices, pk)
		}
		delete(o.owner, sk)
		if prev != es.Labels[discoveryv1.LabelServiceName] || deleted {
			o.rebuild(pk)
		}
	}
	slim := slimSlice(es)
	if deleted || slim.service == "" {
		return
	}
	k := key{ns: es.Namespace, name: slim.service}
	if o.slices[k] == nil {
		o.slices[k] = map[string]*endpointSlice{}
	}
	o.slices[k][es.Name] = slim
	o.owner[sk] = slim.service
	o.rebuild(k)
}

// rebuild recomputes Service k's records; o.mu is held.
func (o *objects) rebuild(k key) {
	svc, ok := o.services[k]
	if !ok {
		o.ix.set(k, nil)
		return
	}
	o.ix.set(k, buildRecords(o.zone, k, svc, o.slices[k]))
}
