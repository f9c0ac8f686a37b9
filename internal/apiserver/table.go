package apiserver

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/internal/registry"
)

var (
	tableGVK           = metav1.SchemeGroupVersion.WithKind("Table")
	partialMetadataGVK = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")
)

// tableOptions are how a client asked for a Table.
type tableOptions struct {
	// include is includeObject: None, Metadata (the default) or Object.
	include   metav1.IncludeObjectPolicy
	noHeaders bool
}

// tableRequested reports whether the Accept header asks for a meta.k8s.io Table, as
// `kubectl get` does, and the row object policy the query asks for.
func tableRequested(r *http.Request) (tableOptions, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			t := tableOptions{include: metav1.IncludeMetadata}
			if p := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); p != "" {
				t.include = p
			}
			return t, true
		}
		// The first acceptable type that is not a Table wins.
		return tableOptions{}, false
	}
	return tableOptions{}, false
}

// table renders obj, an object or a list, as a Table with row objects as asked.
func (s *Server) table(r *http.Request, kind *registry.Kind, obj runtime.Object, t tableOptions) (*metav1.Table, error) {
	switch t.include {
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, apierrors.NewBadRequest("includeObject must be one of None, Metadata or Object")
	}
	table, err := s.tableOf(kind, obj, t)
	if err != nil {
		return nil, err
	}
	if la, err := meta.ListAccessor(obj); err == nil && meta.IsListType(obj) {
		table.ResourceVersion = la.GetResourceVersion()
		table.Continue = la.GetContinue()
		table.RemainingItemCount = la.GetRemainingItemCount()
	} else if m, err := meta.Accessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// tableOf renders obj with its row objects.
func (s *Server) tableOf(kind *registry.Kind, obj runtime.Object, t tableOptions) (*metav1.Table, error) {
	table, err := kind.Strategy.Table(context.Background(), obj, registry.TableOptions{Wide: true, NoHeaders: t.noHeaders})
	if err != nil {
		return nil, err
	}
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
	}
	if len(items) != len(table.Rows) {
		return table, nil
	}
	for i := range table.Rows {
		row, err := s.rowObject(kind, items[i], t.include)
		if err != nil {
			return nil, err
		}
		table.Rows[i].Object = row
	}
	return table, nil
}

func (s *Server) rowObject(kind *registry.Kind, obj runtime.Object, include metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	var buf bytes.Buffer
	switch include {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		if err := s.codecs.encodeJSON(&buf, obj.DeepCopyObject(), kind.GroupVersionKind); err != nil {
			return runtime.RawExtension{}, err
		}
	default:
		m, err := meta.Accessor(obj)
		if err != nil {
			return runtime.RawExtension{}, err
		}
		partial := &metav1.PartialObjectMetadata{ObjectMeta: *metaCopy(m)}
		if err := s.codecs.encodeJSON(&buf, partial, partialMetadataGVK); err != nil {
			return runtime.RawExtension{}, err
		}
	}
	return runtime.RawExtension{Raw: bytes.TrimRight(buf.Bytes(), "\n")}, nil
}

// metaCopy copies an object's metadata into an ObjectMeta.
func metaCopy(m metav1.Object) *metav1.ObjectMeta {
	if om, ok := m.(*metav1.ObjectMeta); ok {
		return om.DeepCopy()
	}
	return &metav1.ObjectMeta{
		Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
		Generation: m.GetGeneration(), CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
		Labels: m.GetLabels(), Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(), Finalizers: m.GetFinalizers(),
	}
}
