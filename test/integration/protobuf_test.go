package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const (
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	acceptTyped   = mediaProtobuf + ",application/json"
)

// contentTypes records the Content-Types of the responses a client received.
type contentTypes struct {
	mu          sync.Mutex
	requests    int
	notProtobuf []string // the requests answered in another media type
	watches     []string // the content types of watch streams
}

func (ct *contentTypes) RoundTrip(next http.RoundTripper, r *http.Request) (*http.Response, error) {
	res, err := next.RoundTrip(r)
	if err == nil {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		typ := res.Header.Get("Content-Type")
		ct.requests++
		if !strings.HasPrefix(typ, mediaProtobuf) {
			ct.notProtobuf = append(ct.notProtobuf, fmt.Sprintf("%s %s answered %d %s", r.Method, r.URL, res.StatusCode, typ))
		}
		if res.StatusCode == http.StatusOK && r.URL.Query().Get("watch") == "true" {
			ct.watches = append(ct.watches, typ)
		}
	}
	return res, err
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// protobufClient is a clientset configured as kube-controller-manager configures its own:
// protobuf bodies, protobuf answers preferred. It records the answers' content types.
func protobufClient(c *cluster) (kubernetes.Interface, *contentTypes) {
	cfg := rest.CopyConfig(c.config)
	cfg.ContentType = mediaProtobuf
	cfg.AcceptContentTypes = acceptTyped
	ct := &contentTypes{}
	cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) { return ct.RoundTrip(next, r) })
	}
	return kubernetes.NewForConfigOrDie(cfg), ct
}

// TestProtobufReadsAndWrites: every kind of response a protobuf client gets (objects, lists,
// subresources, deletions, errors) comes back in protobuf and decodes to what was written;
// errors are the API errors client code tests for.
func TestProtobufReadsAndWrites(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	client, ct := protobufClient(c)
	pods := client.CoreV1().Pods("default")

	created, err := pods.Create(ctx, pod("pb"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.Spec.Containers[0].Image != "busybox" {
		t.Errorf("created pod = %+v", created.ObjectMeta)
	}
	got, err := pods.Get(ctx, "pb", metav1.GetOptions{})
	if err != nil || got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get = %+v, %v; want the created pod", got, err)
	}
	got.Labels["step"] = "1"
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || updated.Labels["step"] != "1" || updated.ResourceVersion == got.ResourceVersion {
		t.Fatalf("update = %+v, %v", updated, err)
	}
	patched, err := pods.Patch(ctx, "pb", types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"step":"2"}}}`), metav1.PatchOptions{})
	if err != nil || patched.Labels["step"] != "2" {
		t.Fatalf("patch = %+v, %v", patched, err)
	}
	patched.Status.Message = "hello"
	status, err := pods.UpdateStatus(ctx, patched, metav1.UpdateOptions{})
	if err != nil || status.Status.Message != "hello" {
		t.Fatalf("update status = %+v, %v", status, err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=w"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Status.Message != "hello" || list.ResourceVersion == "" {
		t.Fatalf("list = %+v, %v", list, err)
	}

	deploys := client.AppsV1().Deployments("default")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pb"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pb"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if _, err := deploys.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	scale, err := deploys.GetScale(ctx, "pb", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 1 {
		t.Fatalf("get scale = %+v, %v", scale, err)
	}
	scale.Spec.Replicas = 3
	if scale, err = deploys.UpdateScale(ctx, "pb", scale, metav1.UpdateOptions{}); err != nil || scale.Spec.Replicas != 3 {
		t.Fatalf("update scale = %+v, %v", scale, err)
	}

	// Pods answer a delete with the pod, other kinds with a Status.
	res, err := client.CoreV1().RESTClient().Delete().Namespace("default").Resource("pods").Name("pb").
		Body(&metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}).Do(ctx).Get()
	if p, ok := res.(*corev1.Pod); err != nil || !ok || p.UID != created.UID {
		t.Fatalf("delete pod = %#v, %v; want the pod", res, err)
	}
	cms := client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pb"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = client.CoreV1().RESTClient().Delete().Namespace("default").Resource("configmaps").Name("pb").Do(ctx).Get()
	if st, ok := res.(*metav1.Status); err != nil || !ok || st.Status != metav1.StatusSuccess || st.Details.Name != "pb" {
		t.Fatalf("delete configmap = %#v, %v; want a Success Status", res, err)
	}

	// Errors.
	if _, err := pods.Get(ctx, "pb", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get deleted pod: %v, want NotFound", err)
	}
	stale := created.DeepCopy()
	stale.ResourceVersion = ""
	stale.UID = ""
	again, err := pods.Create(ctx, stale, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again.ResourceVersion = created.ResourceVersion
	if _, err := pods.Update(ctx, again, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict", err)
	}
	if _, err := pods.Create(ctx, stale, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create twice: %v, want AlreadyExists", err)
	}
	invalid := pod("invalid")
	invalid.Spec.Containers = nil
	_, err = pods.Create(ctx, invalid, metav1.CreateOptions{})
	var se *apierrors.StatusError
	if !apierrors.IsInvalid(err) || !errors.As(err, &se) || se.ErrStatus.Details == nil ||
		!slices.ContainsFunc(se.ErrStatus.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == "spec.containers" }) {
		t.Errorf("create without containers: %#v, want Invalid with a spec.containers cause", err)
	}

	ct.mu.Lock()
	defer ct.mu.Unlock()
	if bad := ct.notProtobuf; len(bad) > 0 {
		t.Errorf("responses to a protobuf client that were not protobuf:\n%s", strings.Join(bad, "\n"))
	}
	if ct.requests < 15 {
		t.Errorf("only %d requests recorded: the recorder does not see the client's requests", ct.requests)
	}
}

// TestProtobufInformer: an informer on a protobuf client sees adds, updates and deletes in
// order over protobuf watch streams, and recovers through a relist when its watch is resumed
// from a compacted revision (410 Gone, sent as a protobuf ERROR event).
func TestProtobufInformer(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, ct := protobufClient(c)
	pods := client.CoreV1().Pods("default")
	// No scheduler takes these pods, so that only the test changes them.
	unscheduled := func(name string) *corev1.Pod {
		p := pod(name)
		p.Spec.SchedulerName = "none"
		return p
	}
	first, err := pods.Create(ctx, unscheduled("old"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		first.Labels["step"] = fmt.Sprint(i)
		if first, err = pods.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.server.Compact(ctx); err != nil {
		t.Fatal(err)
	}

	var watches atomic.Int32
	var forced atomic.Bool
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			// The first watch (a WatchList stream) ends after a second; the next one is a
			// plain watch from a compacted revision, which the server answers with a 410
			// ERROR event, and the informer must relist.
			switch watches.Add(1) {
			case 1:
				o.TimeoutSeconds = ptr.To[int64](1)
			case 2:
				o.ResourceVersion, o.ResourceVersionMatch, o.SendInitialEvents = "2", "", nil
				forced.Store(true)
			}
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	rec := &recorder{}
	inf.AddEventHandler(rec.handler())
	go inf.Run(ctx.Done())
	eventually(t, "informer sync", inf.HasSynced)
	eventually(t, "the watch resumed from a compacted revision, and a watch after it", func() bool { return watches.Load() >= 3 })
	if !forced.Load() {
		t.Fatal("the watch was never resumed from the compacted revision: the test proved nothing")
	}

	p, err := pods.Create(ctx, unscheduled("new"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["step"] = "1"
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "new", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add new", "update new 1", "delete new"}
	var got []string
	eventually(t, "the informer to see the new pod come and go", func() bool {
		got = nil
		for _, ev := range rec.snapshot() {
			if strings.HasSuffix(ev, " new") || strings.Contains(ev, " new ") {
				got = append(got, ev)
			}
		}
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Errorf("informer saw %v, want %v", got, want)
	}
	if got := rec.snapshot(); len(got) == 0 || got[0] != "add old" {
		t.Errorf("informer events = %v, want to start with the initial pod", got)
	}

	ct.mu.Lock()
	defer ct.mu.Unlock()
	// At least the watch that got the 410 and the one after the relist.
	if len(ct.watches) < 2 {
		t.Errorf("%d watch streams recorded, want at least 2", len(ct.watches))
	}
	for _, typ := range ct.watches {
		if typ != mediaProtobuf+";stream=watch" {
			t.Errorf("a watch streamed %q, want protobuf frames", typ)
		}
	}
	if bad := ct.notProtobuf; len(bad) > 0 {
		t.Errorf("responses that were not protobuf:\n%s", strings.Join(bad, "\n"))
	}
}

// TestResponseContentType: the server answers in the first media type the Accept header
// prefers and it can serve, as kube-apiserver does.
func TestResponseContentType(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod("ct"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	httpClient, err := rest.HTTPClientFor(c.config)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.config.Host+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), body
	}
	const podPath = "/api/v1/namespaces/default/pods/ct"
	for _, tc := range []struct {
		path, accept string
		code         int
		media        string
	}{
		{podPath, acceptTyped, 200, mediaProtobuf},
		{podPath, "application/json", 200, "application/json"},
		{podPath, "", 200, "application/json"},
		{podPath, "*/*", 200, "application/json"},
		{podPath, "application/json;q=0.5," + mediaProtobuf, 200, mediaProtobuf},
		{podPath, "application/yaml", 200, "application/yaml"},
		{podPath, "text/html", 406, "application/json"},
		{"/api/v1/namespaces/default/pods/missing", acceptTyped, 404, mediaProtobuf},
		{"/api/v1/namespaces/default/pods", acceptTyped, 200, mediaProtobuf},
		{"/api/v1/namespaces/default/pods", "application/json", 200, "application/json"},
		{"/api/v1/namespaces/default/pods", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", 200, "application/json"},
		{"/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", acceptTyped, 200, mediaProtobuf + ";stream=watch"},
		// A YAML stream cannot be served; the error itself can be YAML.
		{"/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", "application/yaml", 406, "application/yaml"},
		{"/version", acceptTyped, 200, "application/json"},
	} {
		code, media, body := get(tc.path, tc.accept)
		if code != tc.code || media != tc.media {
			t.Errorf("GET %s Accept %q: %d %s, want %d %s: %.200s", tc.path, tc.accept, code, media, tc.code, tc.media, body)
		}
		if media == mediaProtobuf && !bytes.HasPrefix(body, []byte("k8s\x00")) {
			t.Errorf("GET %s Accept %q: protobuf body without its envelope: %q", tc.path, tc.accept, body)
		}
	}

	// The bodies decode to the right objects.
	decode := func(path, accept string) runtime.Object {
		t.Helper()
		_, _, body := get(path, accept)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		if err != nil {
			t.Fatalf("decode GET %s Accept %q: %v", path, accept, err)
		}
		return obj
	}
	if p, ok := decode(podPath, acceptTyped).(*corev1.Pod); !ok || p.Name != "ct" || p.ResourceVersion == "" {
		t.Errorf("protobuf pod = %#v", p)
	}
	if l, ok := decode("/api/v1/namespaces/default/pods", acceptTyped).(*corev1.PodList); !ok || len(l.Items) != 1 || l.Items[0].Name != "ct" || l.ResourceVersion == "" {
		t.Errorf("protobuf pod list = %#v", l)
	}
	if st, ok := decode("/api/v1/namespaces/default/pods/missing", acceptTyped).(*metav1.Status); !ok || st.Reason != metav1.StatusReasonNotFound {
		t.Errorf("protobuf not-found = %#v", st)
	}

	// What the metadata client asks for: PartialObjectMetadataList in protobuf.
	const metaList = mediaProtobuf + ";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
	_, media, body := get("/api/v1/namespaces/default/pods", metaList)
	if media != mediaProtobuf {
		t.Fatalf("metadata list answered %s", media)
	}
	metaScheme := runtime.NewScheme()
	metav1.AddMetaToScheme(metaScheme)
	obj, _, err := protobuf.NewSerializer(metaScheme, metaScheme).Decode(body, nil, nil)
	if l, ok := obj.(*metav1.PartialObjectMetadataList); err != nil || !ok || len(l.Items) != 1 || l.Items[0].Name != "ct" || l.Items[0].Kind != "" && l.Items[0].Kind != "PartialObjectMetadata" {
		t.Errorf("protobuf metadata list = %#v, %v", obj, err)
	}
}
