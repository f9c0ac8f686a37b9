package volume

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// refreshPeriod is how often every pod's projected files are rewritten regardless of
// events: it renews service account tokens and repairs what a lost watch missed.
const refreshPeriod = time.Minute

// objectRef names a config map or secret that some pod's volume projects.
type objectRef struct {
	kind      string // "configmap" or "secret"
	namespace string
	name      string
}

// allPods is the queue key that asks for every pod to be refreshed.
var allPods = objectRef{kind: "all"}

// watches are the running watches of the referenced objects, one per object (a field
// selector on its name, as the kubelet's watch-based manager), so the agent reads only the
// config maps and secrets its own pods use.
type watches struct {
	ctx     context.Context
	queue   workqueue.TypedInterface[objectRef]
	running map[objectRef]context.CancelFunc
}

// Run keeps configMap, secret, downwardAPI and projected files current until ctx ends: a
// change to a referenced object is written into the volumes of the pods using it within a
// moment of the watch event (the kubelet waits for its next pod sync, up to a minute). It
// also removes local-path directories under the storage directory whose volume is gone.
func (m *Manager) Run(ctx context.Context) {
	queue := workqueue.NewTyped[objectRef]()
	m.mu.Lock()
	m.watches = &watches{ctx: ctx, queue: queue, running: map[objectRef]context.CancelFunc{}}
	m.mu.Unlock()
	m.syncWatches()
	go m.cleanStorage(ctx)
	go func() {
		ticker := time.NewTicker(refreshPeriod)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				queue.ShutDown()
				return
			case <-ticker.C:
				queue.Add(allPods)
			}
		}
	}()
	for {
		ref, quit := queue.Get()
		if quit {
			break
		}
		m.refresh(ctx, ref)
		queue.Done(ref)
	}
	m.mu.Lock()
	for _, cancel := range m.watches.running {
		cancel()
	}
	m.watches = nil
	m.mu.Unlock()
}

// refresh rewrites the projected volumes of the pods that use ref.
func (m *Manager) refresh(ctx context.Context, ref objectRef) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	var states []*podState
	for _, st := range m.pods {
		if ref == allPods || references(st.pod)[ref] {
			states = append(states, st)
		}
	}
	m.mu.Unlock()
	for _, st := range states {
		m.mu.Lock()
		pod := st.pod
		m.mu.Unlock()
		used := usedVolumes(pod)
		for i := range pod.Spec.Volumes {
			v := &pod.Spec.Volumes[i]
			src := &v.VolumeSource
			if !used[v.Name] || (src.ConfigMap == nil && src.Secret == nil && src.DownwardAPI == nil && src.Projected == nil) {
				continue
			}
			if _, err := m.setupVolume(ctx, pod, v, st); err != nil {
				// The files keep their last content, as in the kubelet.
				m.log.Warn("refresh volume", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
			}
		}
	}
}

// references lists the config maps and secrets the volumes of pod project.
func references(pod *corev1.Pod) map[objectRef]bool {
	refs := map[objectRef]bool{}
	for _, v := range pod.Spec.Volumes {
		switch src := v.VolumeSource; {
		case src.ConfigMap != nil:
			refs[objectRef{"configmap", pod.Namespace, src.ConfigMap.Name}] = true
		case src.Secret != nil:
			refs[objectRef{"secret", pod.Namespace, src.Secret.SecretName}] = true
		case src.Projected != nil:
			for _, s := range src.Projected.Sources {
				if s.ConfigMap != nil {
					refs[objectRef{"configmap", pod.Namespace, s.ConfigMap.Name}] = true
				}
				if s.Secret != nil {
					refs[objectRef{"secret", pod.Namespace, s.Secret.Name}] = true
				}
			}
		}
	}
	return refs
}

// syncWatches starts a watch for every object the pods reference and stops the others.
// Before Run, it does nothing: Run starts them.
func (m *Manager) syncWatches() {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watches
	if w == nil {
		return
	}
	wanted := map[objectRef]bool{}
	for _, st := range m.pods {
		for ref := range references(st.pod) {
			wanted[ref] = true
		}
	}
	for ref, cancel := range w.running {
		if !wanted[ref] {
			cancel()
			delete(w.running, ref)
		}
	}
	for ref := range wanted {
		if _, ok := w.running[ref]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(w.ctx)
		w.running[ref] = cancel
		go m.watch(ctx, ref, w.queue)
	}
}

// watch queues ref each time the object changes, until ctx ends.
func (m *Manager) watch(ctx context.Context, ref objectRef, queue workqueue.TypedInterface[objectRef]) {
	selector := fields.OneTermEqualSelector("metadata.name", ref.name).String()
	lw := &cache.ListWatch{}
	var obj runtime.Object
	switch ref.kind {
	case "configmap":
		obj = &corev1.ConfigMap{}
		api := m.client.CoreV1().ConfigMaps(ref.namespace)
		lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return api.List(ctx, o)
		}
		lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return api.Watch(ctx, o)
		}
	case "secret":
		obj = &corev1.Secret{}
		api := m.client.CoreV1().Secrets(ref.namespace)
		lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return api.List(ctx, o)
		}
		lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return api.Watch(ctx, o)
		}
	}
	// The wrapper keeps the client's word on streaming lists (the fake clientset has none).
	informer := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, m.client), obj, 0, cache.Indexers{})
	changed := func(any) { queue.Add(ref) }
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, o any) { changed(o) },
		DeleteFunc: changed,
	}); err != nil {
		m.log.Error("watch volume source", "kind", ref.kind, "object", ref.namespace+"/"+ref.name, "err", err)
		return
	}
	informer.RunWithContext(ctx)
}
