package apiserver

import (
	"bytes"
	"context"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/internal/registry"
)

var (
	tableGVK               = metav1.SchemeGroupVersion.WithKind("Table")
	partialMetadataGVK     = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")
	partialMetadataListGVK = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList")
)

// tableOptions are how a client asked for a Table.
type tableOptions struct {
	// include is includeObject: None, Metadata (the default) or Object.
	include   metav1.IncludeObjectPolicy
	noHeaders bool
}

// tableOptionsOf returns the row object policy of a request for a Table: the includeObject
// query parameter, Metadata by default.
func tableOptionsOf(r *http.Request) tableOptions {
	t := tableOptions{include: metav1.IncludeMetadata}
	if p := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); p != "" {
		t.include = p
	}
	return t
}

// partial is obj's metadata as a PartialObjectMetadata.
func partial(obj runtime.Object) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{ObjectMeta: *metaCopy(obj)}
	p.SetGroupVersionKind(partialMetadataGVK)
	return p
}

// partialList is a list's items' metadata as a PartialObjectMetadataList.
func partialList(items []runtime.Object, lm *metav1.ListMeta) *metav1.PartialObjectMetadataList {
	out := &metav1.PartialObjectMetadataList{ListMeta: *lm, Items: make([]metav1.PartialObjectMetadata, len(items))}
	for i, item := range items {
		out.Items[i] = *partial(item)
	}
	return out
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
		if err := s.codecs.encodeJSON(&buf, partial(obj), partialMetadataGVK); err != nil {
			return runtime.RawExtension{}, err
		}
	}
	return runtime.RawExtension{Raw: bytes.TrimRight(buf.Bytes(), "\n")}, nil
}

// metaCopy copies an object's metadata into an ObjectMeta.
func metaCopy(obj runtime.Object) *metav1.ObjectMeta {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return om.DeepCopy()
		}
	}
	m, _ := meta.Accessor(obj)
	return &metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(), CreationTimestamp: m.GetCreationTimestamp(),
		DeletionTimestamp: m.GetDeletionTimestamp(), DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(),
		Labels: m.GetLabels(), Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
		Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
	}
}
