package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "w"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// recorder collects what an informer's handlers see, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.add("add " + obj.(*corev1.Pod).Name) },
		UpdateFunc: func(old, obj any) {
			p := obj.(*corev1.Pod)
			r.add(fmt.Sprintf("update %s %s", p.Name, p.Labels["step"]))
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			r.add("delete " + obj.(*corev1.Pod).Name)
		},
	}
}

// TestInformerSeesEveryChange runs a client-go shared informer (which streams its initial list
// with WatchList) and checks it sees adds, updates and deletes in order.
func TestInformerSeesEveryChange(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := c.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, pod("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	rec := &recorder{}
	inf.AddEventHandler(rec.handler())
	factory.Start(ctx.Done())
	syncCtx, done := context.WithTimeout(ctx, 20*time.Second)
	defer done()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("informer never synced")
	}

	var want []string
	want = append(want, "add before")
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("p%d", i)
		p, err := pods.Create(ctx, pod(name), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "add "+name)
		p.Labels["step"] = "1"
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "update "+name+" 1")
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "delete "+name)
	}
	eventually(t, "informer events", func() bool { return len(rec.snapshot()) >= len(want) })
	got := rec.snapshot()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("informer saw\n%v\nwant\n%v", got, want)
	}
}

// TestWatchFromCompactedRevision checks that a watch from a compacted revision gets 410 Gone,
// and that an informer whose watch is resumed from such a revision relists and recovers.
var forcedOnce atomic.Bool
var calls atomic.Int32

func TestWatchFromCompactedRevision(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := c.client.CoreV1().Pods("default")
	first, err := pods.Create(ctx, pod("old"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		first.Labels["step"] = fmt.Sprint(i)
		if first, err = pods.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.server.Compact(ctx); err != nil {
		t.Fatal(err)
	}

	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: "2"})
	if err != nil {
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from compacted revision: %v, want 410", err)
		}
	} else {
		ev := <-w.ResultChan()
		w.Stop()
		if ev.Type != watch.Error || apierrors.FromObject(ev.Object).(apierrors.APIStatus).Status().Code != 410 {
			t.Fatalf("watch from compacted revision sent %v %v, want an ERROR event with 410", ev.Type, ev.Object)
		}
	}

	// An informer whose watches resume from a compacted revision must relist and go on.
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			// The first watch ends after a second; the informer resumes from the last
			// revision it saw, which this replaces with a compacted one.
			switch calls.Add(1) {
			case 1:
				o.TimeoutSeconds = ptr.To[int64](1)
			case 2:
				o.ResourceVersion = "2"
				forcedOnce.Store(true)
			}
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	rec := &recorder{}
	inf.AddEventHandler(rec.handler())
	go inf.Run(ctx.Done())
	eventually(t, "informer sync", inf.HasSynced)
	// The first watch (a WatchList: initial state, then changes) ends after a second; the
	// second resumes from the compacted revision and gets 410.
	eventually(t, "the watch to resume from the compacted revision", forcedOnce.Load)
	if _, err := pods.Create(ctx, pod("after"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "informer to see the pod created after the 410", func() bool {
		_, ok, _ := inf.GetStore().GetByKey("default/after")
		return ok
	})
}

// TestMetadataInformer runs a metadata-only informer (what garbage collectors use): it lists
// and watches PartialObjectMetadata.
func TestMetadataInformer(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc := metadata.NewForConfigOrDie(c.config)
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	factory := metadatainformer.NewSharedInformerFactory(mc, 0)
	inf := factory.ForResource(gvr).Informer()
	factory.Start(ctx.Done())
	eventually(t, "metadata informer sync", inf.HasSynced)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meta", Namespace: "default", Labels: map[string]string{"x": "y"}}}
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the configmap's metadata", func() bool {
		obj, ok, _ := inf.GetStore().GetByKey("default/meta")
		return ok && obj.(*metav1.PartialObjectMetadata).Labels["x"] == "y"
	})
	got, err := mc.Resource(gvr).Namespace("default").Get(ctx, "meta", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || len(got.ManagedFields) == 0 {
		t.Errorf("metadata get = %+v", got)
	}
}
