package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gantryhq/gantry/internal/storage"
)

// bookmarkInterval is how often an idle watch that asked for bookmarks gets one.
const bookmarkInterval = time.Minute

// watcher streams one watch request's events: JSON lines, or length-prefixed protobuf
// WatchEvent messages, as the client negotiated.
type watcher struct {
	s       *Server
	q       *request
	w       http.ResponseWriter
	flusher http.Flusher
	match   func(runtime.Object) bool
	table   *tableOptions
	partial bool
	first   bool
	// frame is the buffer protobuf events are framed in, reused from event to event.
	frame []byte
	// start is the revision the watch starts after: changes up to it are not sent, even when
	// the hub delivers them after the initial list that already held them.
	start int64
	// rev is the revision of the last event sent.
	rev int64
}

// watch answers GET ?watch=true.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := s.parseListOptions(q, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	initial := o.rv == "" || o.rv == "0"
	if o.sendInitial != nil {
		if *o.sendInitial && (o.rvMatch != metav1.ResourceVersionMatchNotOlderThan || !o.bookmarks) {
			s.writeError(w, r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", field.ErrorList{
				field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true"),
			}))
			return
		}
		initial = *o.sendInitial
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("streaming unsupported"))
		return
	}
	timeout := time.Duration(o.timeoutSecond) * time.Second
	if timeout == 0 {
		timeout = 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute)))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	h, err := s.hubs.get(q.kind)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	wt := &watcher{s: s, q: q, w: w, flusher: flusher, match: s.matcher(q, o), first: true, partial: q.out.partial()}
	if q.out.table() {
		t := tableOptionsOf(r)
		wt.table = &t
	}

	var start int64
	var snapshot []runtime.Object
	if initial {
		// The initial state is read after the hub started, so the hub holds every change
		// made after it.
		items, lm, err := s.listObjects(r, q, &listOptions{labels: o.labels, fields: o.fields})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		snapshot = items
		start, _ = strconv.ParseInt(lm.ResourceVersion, 10, 64)
	} else if start, err = strconv.ParseInt(o.rv, 10, 64); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest("invalid resourceVersion"))
		return
	}

	sub, replay, err := h.subscribe(start)
	var direct <-chan storage.Event
	if errors.Is(err, errTooOld) {
		// Older than the hub's memory: read the history from the store itself, which
		// answers ErrCompacted (410) when it is gone too.
		if direct, err = s.objects.store.Watch(ctx, prefix(q.kind, q.info.Namespace), start); err != nil {
			s.writeError(w, r, err)
			return
		}
	} else if err != nil {
		s.writeError(w, r, err)
		return
	} else {
		defer h.unsubscribe(sub)
	}

	w.Header().Set("Content-Type", q.out.contentType(true))
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	wt.start, wt.rev = start, start
	for _, obj := range snapshot {
		if !wt.send(watch.Added, obj, nil) {
			return
		}
	}
	if o.sendInitial != nil && *o.sendInitial {
		if !wt.bookmark(true) {
			return
		}
	}
	for _, c := range replay {
		if !wt.sendChange(c) {
			return
		}
	}
	wt.flusher.Flush()

	var bookmarks <-chan time.Time
	if o.bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		bookmarks = t.C
	}
	var subCh <-chan *change
	var gone <-chan struct{}
	if sub != nil {
		subCh, gone = sub.ch, sub.gone
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case <-bookmarks:
			if !wt.bookmark(false) {
				return
			}
		case c := <-subCh:
			if !wt.sendChange(c) {
				return
			}
			// Send what is already queued before flushing: one flush per burst.
			for drained := false; !drained; {
				select {
				case c := <-subCh:
					if !wt.sendChange(c) {
						return
					}
				default:
					drained = true
				}
			}
			wt.flusher.Flush()
		case ev, ok := <-direct:
			if !ok {
				return
			}
			if !wt.sendStored(ev) {
				return
			}
			wt.flusher.Flush()
		}
	}
}

func (wt *watcher) sendChange(c *change) bool {
	if c.rev <= wt.start {
		return true
	}
	typ, ok := c.eventFor(wt.match)
	if !ok {
		return true
	}
	return wt.send(typ, c.obj, c)
}

// sendStored sends an event read straight from the store.
func (wt *watcher) sendStored(ev storage.Event) bool {
	if ev.Type == storage.EventError {
		st := apiError(wt.q.kind, "", ev.Err)
		var status apierrors.APIStatus
		if !errors.As(st, &status) {
			status = apierrors.NewInternalError(ev.Err)
		}
		s := status.Status()
		return wt.writeEvent(watch.Error, wt.encode(&s))
	}
	c, err := wt.s.objects.decodeChange(wt.q.kind, ev)
	if err != nil {
		return false
	}
	return wt.sendChange(c)
}

// send writes one event. c, when given, caches the encoding of obj across watchers.
func (wt *watcher) send(typ watch.EventType, obj runtime.Object, c *change) bool {
	wt.rev = max(wt.rev, revisionOf(obj))
	if wt.table != nil {
		opts := *wt.table
		opts.noHeaders = !wt.first
		wt.first = false
		table, err := wt.s.tableOf(wt.q.kind, obj, opts)
		if err != nil {
			return false
		}
		return wt.writeEvent(typ, wt.encode(table))
	}
	if wt.partial {
		return wt.writeEvent(typ, wt.encode(partial(obj)))
	}
	var data []byte
	if c != nil {
		data = c.encoded(wt.s.codecs, wt.q.out.media)
	} else {
		data = wt.encode(obj)
	}
	return wt.writeEvent(typ, data)
}

// bookmark tells the client how far it has seen; the first one after the initial events
// carries the annotation that ends them.
func (wt *watcher) bookmark(initialEnd bool) bool {
	obj := wt.q.kind.New()
	if wt.partial {
		obj = partial(obj)
	}
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(wt.rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	if !wt.writeEvent(watch.Bookmark, wt.encode(obj)) {
		return false
	}
	wt.flusher.Flush()
	return true
}

// encode is obj, a kind's object, a Status, Table or PartialObjectMetadata, in the watch's
// media type.
func (wt *watcher) encode(obj runtime.Object) []byte {
	gvk := wt.q.kind.GroupVersionKind
	switch obj.(type) {
	case *metav1.Status:
		gvk = statusGVK
	case *metav1.Table:
		gvk = tableGVK
	case *metav1.PartialObjectMetadata:
		gvk = partialMetadataGVK
	}
	data, err := wt.s.codecs.encodeBytes(wt.q.out.media, obj, gvk)
	if err != nil {
		slog.Error("encode watch event", "resource", wt.q.kind.Resource, "err", err)
	}
	return data
}

// writeEvent writes one event whose object is already encoded. An object that could not be
// encoded ends the watch: the client watches again from the last event it saw.
func (wt *watcher) writeEvent(typ watch.EventType, obj []byte) bool {
	if len(obj) == 0 {
		return false
	}
	if wt.q.out.media == runtime.ContentTypeProtobuf {
		wt.frame = appendProtobufEvent(wt.frame[:0], typ, obj)
		_, err := wt.w.Write(wt.frame)
		return err == nil
	}
	var buf bytes.Buffer
	buf.Grow(len(obj) + 32)
	buf.WriteString(`{"type":"`)
	buf.WriteString(string(typ))
	buf.WriteString(`","object":`)
	buf.Write(obj)
	buf.WriteString("}\n")
	_, err := wt.w.Write(buf.Bytes())
	return err == nil
}

// appendProtobufEvent appends the frame of one protobuf watch event to buf, as kube-apiserver
// writes them: a metav1.WatchEvent message whose object is the protobuf encoding of the object
// (with its "k8s\x00" envelope), preceded by the message's length as 4 big-endian bytes.
func appendProtobufEvent(buf []byte, typ watch.EventType, obj []byte) []byte {
	ev := metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: obj}}
	n := ev.Size()
	start := len(buf)
	buf = slices.Grow(buf, 4+n)[:start+4+n]
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	// MarshalToSizedBuffer fails only when the buffer is too small, and it is exactly n.
	_, _ = ev.MarshalToSizedBuffer(buf[start+4:])
	return buf
}
