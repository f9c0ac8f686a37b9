package apiserver

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

// request is one resource request, resolved to its kind.
type request struct {
	info requestInfo
	kind *registry.Kind
	user userInfo
	// out is the response encoding negotiated from the Accept header.
	out output
}

func (q *request) writeOptions(r *http.Request) (writeOptions, error) {
	o := writeOptions{subresource: q.info.Subresource, user: q.user}
	o.apply = q.info.Verb == "patch" && mediaType(r) == string(types.ApplyYAMLPatchType)
	var err error
	if o.manager, err = fieldManagerName(r, o.apply); err != nil {
		return o, err
	}
	if o.validation, err = parseFieldValidation(r); err != nil {
		return o, err
	}
	if o.body, err = readBody(r); err != nil {
		return o, err
	}
	for _, v := range r.URL.Query()["dryRun"] {
		if v != metav1.DryRunAll {
			return o, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, supported values: All", v))
		}
		o.dryRun = true
	}
	return o, nil
}

func (q *request) groupResource() string {
	return q.kind.GroupVersionResource().GroupResource().String()
}

// get answers GET on one object.
func (s *Server) get(w http.ResponseWriter, r *http.Request, q *request) {
	obj, err := s.objects.get(r.Context(), q.kind, q.info.Namespace, q.info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respond(w, r, q, http.StatusOK, obj)
}

// respond answers with obj as the client asked: the object, its metadata or a Table of it.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, q *request, code int, obj runtime.Object) {
	if q.out.partial() && q.info.Subresource == "" {
		s.writeObject(w, q.out, code, partial(obj), partialMetadataGVK)
		return
	}
	if q.out.table() && q.info.Subresource == "" {
		table, err := s.table(r, q.kind, obj, tableOptionsOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, q.out, code, table, tableGVK)
		return
	}
	s.writeObject(w, q.out, code, obj, q.kind.GroupVersionKind)
}

// listOptions are the query parameters of a list or watch.
type listOptions struct {
	labels        labels.Selector
	fields        fields.Selector
	limit         int64
	cont          *continueToken
	rv            string
	rvMatch       metav1.ResourceVersionMatch
	sendInitial   *bool
	bookmarks     bool
	timeoutSecond int64
}

func (s *Server) parseListOptions(q *request, v url.Values) (*listOptions, error) {
	o := &listOptions{rv: v.Get("resourceVersion"), rvMatch: metav1.ResourceVersionMatch(v.Get("resourceVersionMatch"))}
	var err error
	if o.labels, err = labels.Parse(v.Get("labelSelector")); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if o.fields, err = fields.ParseAndTransformSelector(v.Get("fieldSelector"), q.kind.ConvertFieldLabel); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if l := v.Get("limit"); l != "" {
		if o.limit, err = strconv.ParseInt(l, 10, 64); err != nil || o.limit < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("limit must be a non-negative integer, not %q", l))
		}
	}
	if c := v.Get("continue"); c != "" {
		if o.cont, err = decodeContinue(c, prefix(q.kind, q.info.Namespace)); err != nil {
			return nil, err
		}
	}
	if o.rv != "" && o.rv != "0" {
		if _, err := strconv.ParseUint(o.rv, 10, 64); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", o.rv))
		}
	}
	switch o.rvMatch {
	case "", metav1.ResourceVersionMatchNotOlderThan, metav1.ResourceVersionMatchExact:
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: unsupported value %q", o.rvMatch))
	}
	if si := v.Get("sendInitialEvents"); si != "" {
		b := si == "true"
		o.sendInitial = &b
	}
	// A watch may name resourceVersionMatch without a resourceVersion: a WatchList asks for
	// the state "not older than now". A list may not (kube-apiserver's rules).
	switch {
	case q.info.Verb == "watch" && o.rvMatch != "" && o.sendInitial == nil:
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	case q.info.Verb != "watch" && o.rvMatch != "" && o.rv == "":
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	o.bookmarks = isTrue(v, "allowWatchBookmarks")
	if t := v.Get("timeoutSeconds"); t != "" {
		if o.timeoutSecond, err = strconv.ParseInt(t, 10, 64); err != nil || o.timeoutSecond < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("timeoutSeconds must be a non-negative integer, not %q", t))
		}
	}
	return o, nil
}

// matcher returns the filter of a list or watch: namespace, labels and fields.
func (s *Server) matcher(q *request, o *listOptions) func(runtime.Object) bool {
	ns := q.info.Namespace
	return func(obj runtime.Object) bool {
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		if ns != "" && m.GetNamespace() != ns {
			return false
		}
		if !o.labels.Empty() && !o.labels.Matches(labels.Set(m.GetLabels())) {
			return false
		}
		return o.fields.Empty() || o.fields.Matches(q.kind.Strategy.Fields(obj))
	}
}

// continueToken resumes a paged list where the last page ended, at the same revision.
type continueToken struct {
	Rev   int64  `json:"rv"`
	After string `json:"start"`
}

func encodeContinue(rev int64, after string) string {
	data, _ := json.Marshal(continueToken{Rev: rev, After: after})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(s, keyPrefix string) (*continueToken, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	var t continueToken
	if err == nil {
		err = json.Unmarshal(data, &t)
	}
	if err != nil || t.Rev == 0 || t.Rev < -1 || !strings.HasPrefix(t.After, keyPrefix) {
		return nil, apierrors.NewBadRequest("invalid continue token: it does not come from a list of this resource")
	}
	return &t, nil
}

// listObjects reads the matching objects of a list request, one page if a limit is set.
func (s *Server) listObjects(r *http.Request, q *request, o *listOptions) ([]runtime.Object, *metav1.ListMeta, error) {
	ctx := r.Context()
	keyPrefix := prefix(q.kind, q.info.Namespace)
	opts := storage.ListOptions{}
	if o.cont != nil {
		// Revision -1 marks a token handed out with a 410: it goes on at the latest state.
		opts.Revision, opts.After = max(o.cont.Rev, 0), o.cont.After
	} else if o.rvMatch == metav1.ResourceVersionMatchExact {
		opts.Revision, _ = strconv.ParseInt(o.rv, 10, 64)
	}
	match := s.matcher(q, o)
	filtered := !o.labels.Empty() || !o.fields.Empty()
	var items []runtime.Object
	lm := &metav1.ListMeta{}
	for {
		opts.Limit = 0
		if o.limit > 0 {
			opts.Limit = o.limit - int64(len(items))
			if filtered {
				opts.Limit = max(opts.Limit, 100)
			}
		}
		page, err := s.objects.store.List(ctx, keyPrefix, opts)
		if err != nil {
			if o.cont != nil && apierrors.IsResourceExpired(apiError(q.kind, "", err)) {
				// As kube-apiserver does, offer a token that goes on from the same key at the
				// latest revision, for clients that accept an inconsistent list.
				expired := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
				expired.ErrStatus.ListMeta.Continue = encodeContinue(-1, opts.After)
				return nil, nil, expired
			}
			return nil, nil, apiError(q.kind, "", err)
		}
		opts.Revision = page.Revision
		for i, kv := range page.Items {
			obj, err := s.objects.decode(q.kind, kv.Value, kv.ModRevision)
			if err != nil {
				return nil, nil, err
			}
			if !match(obj) {
				continue
			}
			items = append(items, obj)
			if o.limit > 0 && int64(len(items)) == o.limit && (i < len(page.Items)-1 || page.More) {
				lm.Continue = encodeContinue(page.Revision, kv.Key)
				if !filtered {
					rest := page.Remaining + int64(len(page.Items)-1-i)
					lm.RemainingItemCount = &rest
				}
				lm.ResourceVersion = strconv.FormatInt(page.Revision, 10)
				return items, lm, nil
			}
		}
		if !page.More || len(page.Items) == 0 {
			break
		}
		opts.After = page.Items[len(page.Items)-1].Key
	}
	if want, _ := strconv.ParseInt(o.rv, 10, 64); want > opts.Revision && o.rvMatch != metav1.ResourceVersionMatchExact {
		return nil, nil, apierrors.NewTimeoutError("Too large resource version", 1)
	}
	lm.ResourceVersion = strconv.FormatInt(opts.Revision, 10)
	return items, lm, nil
}

// list answers GET on a collection.
func (s *Server) list(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := s.parseListOptions(q, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, lm, err := s.listObjects(r, q, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.out.partial() {
		s.writeObject(w, q.out, http.StatusOK, partialList(items, lm), partialMetadataListGVK)
		return
	}
	listGVK := q.kind.GroupVersionKind
	listGVK.Kind += "List"
	if !q.out.table() && q.out.media == runtime.ContentTypeJSON {
		s.writeListJSON(w, listGVK, lm, items)
		return
	}
	list := q.kind.NewList()
	if err := meta.SetList(list, items); err != nil {
		s.writeError(w, r, err)
		return
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(lm.ResourceVersion)
	la.SetContinue(lm.Continue)
	la.SetRemainingItemCount(lm.RemainingItemCount)
	if !q.out.table() {
		s.writeList(w, q.out, list, listGVK)
		return
	}
	table, err := s.table(r, q.kind, list, tableOptionsOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, q.out, http.StatusOK, table, tableGVK)
}

// writeList answers with list in a media type other than JSON, through a buffer: the
// protobuf encoder writes a list item by item.
func (s *Server) writeList(w http.ResponseWriter, out output, list runtime.Object, gvk schema.GroupVersionKind) {
	w.Header().Set("Content-Type", out.contentType(false))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := s.codecs.encode(bw, out.media, list, gvk); err != nil {
		slog.Debug("write list", "err", err)
		return
	}
	bw.Flush()
}

// writeListJSON streams a list item by item, so that a large list is never held as one
// encoded buffer.
func (s *Server) writeListJSON(w http.ResponseWriter, gvk schema.GroupVersionKind, lm *metav1.ListMeta, items []runtime.Object) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	meta, _ := json.Marshal(lm)
	fmt.Fprintf(bw, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, gvk.Kind, gvk.GroupVersion().String(), meta)
	for i, item := range items {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := s.codecs.json.Encode(item, bw); err != nil {
			return
		}
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

// create answers POST on a collection.
func (s *Server) create(w http.ResponseWriter, r *http.Request, q *request) {
	if q.kind.Namespaced && q.info.Namespace == "" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(q.kind.GroupVersionResource().GroupResource(), "create"))
		return
	}
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, warnings, err := s.decodeObject(r, q, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.createObject(r.Context(), q.kind, obj, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	s.respond(w, r, q, http.StatusCreated, out)
}

// decodeObject reads the body as an object of the request's kind and checks that its
// namespace (and name, for requests on one object) agree with the URL.
func (s *Server) decodeObject(r *http.Request, q *request, o writeOptions) (runtime.Object, []string, error) {
	obj := q.kind.New()
	warnings, err := s.codecs.decode(o.body, mediaType(r), q.kind.GroupVersionKind, obj, o.validation)
	if err != nil {
		return nil, nil, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	if q.kind.Namespaced {
		switch m.GetNamespace() {
		case "":
			m.SetNamespace(q.info.Namespace)
		case q.info.Namespace:
		default:
			return nil, nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if q.info.Name != "" && m.GetName() != q.info.Name {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), q.info.Name))
	}
	return obj, warnings, nil
}

func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %s", strconv.Quote(msg)))
	}
}

// update answers PUT on an object or its status.
func (s *Server) update(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, warnings, err := s.decodeObject(r, q, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, created, err := s.updateObject(r.Context(), q.kind, q.info.Namespace, q.info.Name, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.respond(w, r, q, code, out)
}

// delete answers DELETE on an object.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := s.deleteOptions(r, o.body, q.kind.GroupVersionKind.GroupVersion())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(opts.DryRun) > 0 {
		o.dryRun = true
	}
	obj, gone, err := s.deleteObject(r.Context(), q.kind, q.info.Namespace, q.info.Name, opts, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !gone || returnsDeletedObject(q.kind) {
		s.respond(w, r, q, http.StatusOK, obj)
		return
	}
	m, _ := meta.Accessor(obj)
	s.writeObject(w, q.out, http.StatusOK, &metav1.Status{
		Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name: m.GetName(), Group: q.kind.GroupVersionKind.Group, Kind: q.kind.Resource, UID: m.GetUID(),
		},
	}, statusGVK)
}

// returnsDeletedObject: these kinds answer a delete with the object, as in Kubernetes; the
// others answer with a Status.
func returnsDeletedObject(kind *registry.Kind) bool {
	switch kind.GroupVersionResource().GroupResource().String() {
	case "pods", "services", "namespaces", "persistentvolumeclaims", "persistentvolumes":
		return true
	}
	return false
}

// deleteOptions reads DeleteOptions from the body (JSON or protobuf) and the query.
func (s *Server) deleteOptions(r *http.Request, body []byte, gv schema.GroupVersion) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	switch {
	case len(body) == 0:
	case mediaType(r) == runtime.ContentTypeJSON:
		// kubectl sends apiVersion meta.k8s.io/v1, typed clients their own group version:
		// DeleteOptions are the same in all of them.
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	default:
		if _, err := s.codecs.decode(body, mediaType(r), gv.WithKind("DeleteOptions"), opts, validationIgnore); err != nil {
			return nil, err
		}
	}
	v := r.URL.Query()
	if g := v.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds must be an integer, not %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if p := v.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := v.Get("orphanDependents"); o != "" {
		b := o == "true"
		opts.OrphanDependents = &b
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: unsupported value %q, supported values: Background, Foreground, Orphan", *opts.PropagationPolicy))
		}
		if opts.OrphanDependents != nil {
			return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy cannot both be set")
		}
	}
	return opts, nil
}

// deleteCollection answers DELETE on a collection: every matching object is deleted as a
// single delete would.
func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lo, err := s.parseListOptions(q, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := s.deleteOptions(r, o.body, q.kind.GroupVersionKind.GroupVersion())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, lm, err := s.listObjects(r, q, lo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var deleted []runtime.Object
	for _, item := range items {
		m, _ := meta.Accessor(item)
		obj, _, err := s.deleteObject(r.Context(), q.kind, m.GetNamespace(), m.GetName(), opts, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		deleted = append(deleted, obj)
	}
	list := q.kind.NewList()
	_ = meta.SetList(list, deleted)
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(lm.ResourceVersion)
	listGVK := q.kind.GroupVersionKind
	listGVK.Kind += "List"
	s.writeObject(w, q.out, http.StatusOK, list, listGVK)
}
