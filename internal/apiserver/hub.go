package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

const (
	// ringSize is how many recent events of a kind a hub keeps for watchers that resume from
	// a recent resourceVersion.
	ringSize = 2048
	// subscriberBuffer is how many events a slow watcher may fall behind before it is cut
	// off; it then re-watches from the last resourceVersion it saw.
	subscriberBuffer = 1024
)

// errTooOld: the hub no longer holds every event after the requested revision.
var errTooOld = errors.New("revision older than the hub's history")

// change is one decoded storage event, shared read-only by every watcher of its kind.
type change struct {
	obj     runtime.Object // the new object, or for a deletion the object as it was
	prev    runtime.Object // the object before an update; nil for creations and deletions
	deleted bool
	rev     int64

	// json and protobuf are obj encoded once for all the watchers that asked for that media
	// type: watch streams are JSON or protobuf. The stored protobuf is not reused: it lacks
	// the resourceVersion (the revision is etcd's, not in the value) and, for kinds served in
	// several versions, is in the storage version.
	json, protobuf encoding
}

type encoding struct {
	once sync.Once
	data []byte
}

// encoded is obj in media, JSON or protobuf, encoded on first use.
func (c *change) encoded(codecs *codecs, media string) []byte {
	e := &c.json
	if media == runtime.ContentTypeProtobuf {
		e = &c.protobuf
	}
	e.once.Do(func() {
		// obj already carries its apiVersion and kind; it is shared, so it is not touched.
		data, err := codecs.encodeBytes(media, c.obj, schema.GroupVersionKind{})
		if err != nil {
			slog.Error("encode watch event", "resource", c.obj.GetObjectKind().GroupVersionKind(), "err", err)
		}
		e.data = data
	})
	return e.data
}

// eventFor is what a watcher whose filter is match sees of c: an ADDED, MODIFIED or DELETED
// event, or nothing. An object that starts or stops matching is added or deleted.
func (c *change) eventFor(match func(runtime.Object) bool) (watch.EventType, bool) {
	now := match(c.obj)
	switch {
	case c.deleted:
		return watch.Deleted, now
	case c.prev == nil:
		return watch.Added, now
	}
	before := match(c.prev)
	switch {
	case now && before:
		return watch.Modified, true
	case now:
		return watch.Added, true
	case before:
		return watch.Deleted, true
	}
	return "", false
}

// hub fans one storage watch over a kind's objects out to every API watcher of that kind, so
// each change is read and decoded once however many clients watch.
type hub struct {
	kind    *registry.Kind
	objects *objects

	mu sync.Mutex
	// ring holds the latest changes; every change after ringStart is in it.
	ring      []*change
	ringStart int64
	subs      map[*subscriber]struct{}
	closed    bool
}

type subscriber struct {
	ch chan *change
	// gone is closed when the hub drops the subscriber (it fell behind or the hub stopped).
	gone chan struct{}
}

// startHub begins watching kind's objects from the store's current revision.
func startHub(ctx context.Context, kind *registry.Kind, objs *objects, onStop func()) (*hub, error) {
	rev, err := objs.store.Revision(ctx)
	if err != nil {
		return nil, err
	}
	events, err := objs.store.Watch(ctx, prefix(kind, ""), rev)
	if err != nil {
		return nil, err
	}
	h := &hub{kind: kind, objects: objs, ringStart: rev, subs: map[*subscriber]struct{}{}}
	go func() {
		defer onStop()
		err := h.run(events)
		if ctx.Err() == nil {
			slog.Warn("watch hub stopped", "resource", kind.Resource, "err", err)
		}
		h.stop()
	}()
	return h, nil
}

func (h *hub) run(events <-chan storage.Event) error {
	for ev := range events {
		c, err := h.objects.decodeChange(h.kind, ev)
		if err != nil {
			return err
		}
		h.publish(c)
	}
	return errors.New("storage watch ended")
}

// decodeChange decodes a storage event into a change of kind.
func (o *objects) decodeChange(kind *registry.Kind, ev storage.Event) (*change, error) {
	if ev.Type == storage.EventError {
		return nil, ev.Err
	}
	obj, err := o.decode(kind, ev.KV.Value, ev.KV.ModRevision)
	if err != nil {
		return nil, err
	}
	c := &change{obj: obj, rev: ev.KV.ModRevision, deleted: ev.Type == storage.EventDelete}
	if ev.Type == storage.EventPut && !ev.Created && ev.PrevValue != nil {
		if c.prev, err = o.decode(kind, ev.PrevValue, ev.KV.ModRevision); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (h *hub) publish(c *change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) == ringSize {
		h.ringStart = h.ring[0].rev
		h.ring = append(h.ring[:0], h.ring[1:]...)
	}
	h.ring = append(h.ring, c)
	for s := range h.subs {
		select {
		case s.ch <- c:
		default:
			h.drop(s)
		}
	}
}

func (h *hub) drop(s *subscriber) {
	delete(h.subs, s)
	close(s.gone)
}

func (h *hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.drop(s)
	}
}

// subscribe registers a watcher for every change after revision after. It returns the
// changes already held that the watcher must see first.
func (h *hub) subscribe(after int64) (*subscriber, []*change, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, errors.New("watch hub stopped")
	}
	if after < h.ringStart {
		return nil, nil, errTooOld
	}
	var replay []*change
	for i, c := range h.ring {
		if c.rev > after {
			replay = append(replay, h.ring[i:]...)
			break
		}
	}
	s := &subscriber{ch: make(chan *change, subscriberBuffer), gone: make(chan struct{})}
	h.subs[s] = struct{}{}
	return s, replay, nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		h.drop(s)
	}
}

// hubs holds one hub per kind, started on first use and restarted if it stops.
type hubs struct {
	ctx     context.Context
	objects *objects
	mu      sync.Mutex
	byKind  map[*registry.Kind]*hub
}

func (hs *hubs) get(kind *registry.Kind) (*hub, error) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if h, ok := hs.byKind[kind]; ok {
		return h, nil
	}
	var h *hub
	h, err := startHub(hs.ctx, kind, hs.objects, func() {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		if hs.byKind[kind] == h {
			delete(hs.byKind, kind)
		}
	})
	if err != nil {
		return nil, err
	}
	hs.byKind[kind] = h
	return h, nil
}
