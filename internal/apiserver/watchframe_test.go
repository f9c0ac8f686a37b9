package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

func podKind(t *testing.T) *registry.Kind {
	for _, k := range registry.Kinds() {
		if k.GroupVersionKind == corev1.SchemeGroupVersion.WithKind("Pod") {
			return k
		}
	}
	t.Fatal("no Pod kind")
	return nil
}

func testPod(name, rv string, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: rv, Labels: labels}}
	p.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	return p
}

// watchServer serves one watch stream of the given changes, as the watch handler writes them,
// then a bookmark ending the initial events and a 410 error, in the negotiated media type.
func watchServer(t *testing.T, changes []*change) *httptest.Server {
	s := &Server{codecs: newCodecs(registry.Scheme(), registry.Codecs)}
	kind := podKind(t)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := s.codecs.negotiate(r, resourceEndpoint{}, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		q := &request{kind: kind, out: out}
		w.Header().Set("Content-Type", out.contentType(true))
		w.WriteHeader(http.StatusOK)
		wt := &watcher{s: s, q: q, w: w, flusher: w.(http.Flusher), match: func(runtime.Object) bool { return true }}
		for _, c := range changes {
			if !wt.sendChange(c) {
				t.Error("send change failed")
				return
			}
		}
		if !wt.bookmark(true) || !wt.sendStored(storage.Event{Type: storage.EventError, Err: storage.ErrCompacted}) {
			t.Error("send bookmark or error failed")
		}
	}))
}

func testChanges() []*change {
	return []*change{
		{obj: testPod("a", "5", map[string]string{"app": "x"}), rev: 5},
		{obj: testPod("a", "6", map[string]string{"app": "y"}), prev: testPod("a", "5", nil), rev: 6},
		{obj: testPod("a", "7", nil), deleted: true, rev: 7},
	}
}

// A client-go typed client configured for protobuf decodes the protobuf watch stream: every
// event type, the bookmark's annotation and the 410 error's Status. The JSON stream decodes
// to the same events.
func TestWatchStreamDecodesInClientGo(t *testing.T) {
	for _, media := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON} {
		t.Run(media, func(t *testing.T) {
			changes := testChanges()
			srv := watchServer(t, changes)
			defer srv.Close()
			client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: media, AcceptContentTypes: media}})
			w, err := client.CoreV1().Pods("ns").Watch(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()
			want := []struct {
				typ   watch.EventType
				rv    string
				label string
			}{
				{watch.Added, "5", "x"}, {watch.Modified, "6", "y"}, {watch.Deleted, "7", ""}, {watch.Bookmark, "7", ""},
			}
			for _, wnt := range want {
				ev := <-w.ResultChan()
				pod, ok := ev.Object.(*corev1.Pod)
				if ev.Type != wnt.typ || !ok || pod.ResourceVersion != wnt.rv || pod.Labels["app"] != wnt.label {
					t.Fatalf("event = %s %#v, want %s of a pod at %s labelled %q", ev.Type, ev.Object, wnt.typ, wnt.rv, wnt.label)
				}
				if ev.Type == watch.Bookmark && pod.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					t.Errorf("bookmark annotations = %v, want the initial-events-end annotation", pod.Annotations)
				}
			}
			ev := <-w.ResultChan()
			status, ok := ev.Object.(*metav1.Status)
			if ev.Type != watch.Error || !ok || !apierrors.IsResourceExpired(apierrors.FromObject(status)) || status.Code != http.StatusGone {
				t.Fatalf("event = %s %#v, want a 410 Expired error", ev.Type, ev.Object)
			}
			// Each change was encoded once, in the media type of its watchers only.
			for _, c := range changes {
				got, other := c.protobuf.data, c.json.data
				if media == runtime.ContentTypeJSON {
					got, other = other, got
				}
				if len(got) == 0 || other != nil {
					t.Errorf("change at %d: cached %s encoding %d bytes, other %d bytes", c.rev, media, len(got), len(other))
				}
			}
		})
	}
}

// Each protobuf frame is a 4-byte big-endian length and a metav1.WatchEvent whose object is
// the object's protobuf encoding with its "k8s\x00" envelope, the same bytes for every
// watcher of the change.
func TestProtobufWatchFrames(t *testing.T) {
	changes := testChanges()
	srv := watchServer(t, changes)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", acceptTyped)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.kubernetes.protobuf;stream=watch" {
		t.Errorf("Content-Type = %q", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for len(body) > 0 {
		if len(body) < 4 {
			t.Fatalf("%d trailing bytes", len(body))
		}
		n := int(binary.BigEndian.Uint32(body))
		if len(body) < 4+n {
			t.Fatalf("frame of %d bytes, %d left", n, len(body)-4)
		}
		var ev metav1.WatchEvent
		if err := ev.Unmarshal(body[4 : 4+n]); err != nil {
			t.Fatalf("frame %d: %v", len(types), err)
		}
		if !bytes.HasPrefix(ev.Object.Raw, []byte("k8s\x00")) {
			t.Errorf("%s event object lacks the protobuf envelope: %q", ev.Type, ev.Object.Raw)
		}
		if len(types) < len(changes) && !bytes.Equal(ev.Object.Raw, changes[len(types)].protobuf.data) {
			t.Errorf("%s event object is not the change's cached encoding", ev.Type)
		}
		types = append(types, ev.Type)
		body = body[4+n:]
	}
	if want := []string{"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}; !slices.Equal(types, want) {
		t.Errorf("events = %v, want %v", types, want)
	}
}
