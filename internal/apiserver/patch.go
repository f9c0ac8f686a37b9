package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// maxJSONPatchOperations bounds the work one JSON patch may ask for, as kube-apiserver does.
const maxJSONPatchOperations = 10000

// applyPatch applies patch, of type pt, to the JSON document doc. schema is an object of the
// document's Go type, which strategic merge patches need for their merge keys.
func applyPatch(pt types.PatchType, doc, patch []byte, schema runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch has %d operations, more than the %d allowed", len(p), maxJSONPatchOperations))
		}
		out, err := p.Apply(doc)
		if err != nil {
			return nil, patchFailed(err)
		}
		return out, nil
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("invalid merge patch: the body is not valid JSON")
		}
		out, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return nil, patchFailed(err)
		}
		return out, nil
	case types.StrategicMergePatchType:
		var m map[string]any
		if err := json.Unmarshal(patch, &m); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		out, err := strategicpatch.StrategicMergePatch(doc, patch, schema)
		if err != nil {
			return nil, patchFailed(err)
		}
		return out, nil
	}
	return nil, unsupportedPatch(string(pt))
}

func patchFailed(err error) error {
	return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", fmt.Sprintf("the patch could not be applied: %v", err), 0, false)
}

func unsupportedPatch(media string) error {
	return unsupportedMediaTypeMsg(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got %q)", media))
}

// patch answers PATCH on an object or its status.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pt := types.PatchType(mediaType(r))
	force := isTrue(r.URL.Query(), "force")
	if force && !o.apply {
		s.writeError(w, r, apierrors.NewBadRequest("force is only valid for apply requests"))
		return
	}
	var warnings []string
	out, created, err := s.updateObject(r.Context(), q.kind, q.info.Namespace, q.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if o.apply {
			// An apply creates what does not exist yet.
			live := current
			if live == nil {
				live = newLive(q.kind, q.info.Namespace, q.info.Name)
			}
			obj, err := s.fields.apply(q.kind, o, live.DeepCopyObject(), o.body, o.validation, force)
			if err != nil {
				return nil, err
			}
			return obj, keepIdentity(q, obj, live)
		}
		if current == nil {
			return nil, apierrors.NewNotFound(q.kind.GroupVersionResource().GroupResource(), q.info.Name)
		}
		doc, err := s.toJSON(current, q.kind.GroupVersionKind)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, doc, o.body, q.kind.New())
		if err != nil {
			return nil, err
		}
		obj := q.kind.New()
		if warnings, err = s.codecs.decode(patched, runtime.ContentTypeJSON, q.kind.GroupVersionKind, obj, o.validation); err != nil {
			return nil, err
		}
		return obj, keepIdentity(q, obj, current)
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

// keepIdentity refuses a patch that renames or moves the object, and makes a patch that left
// the resourceVersion as it was unconditional, so that it is retried on conflict.
func keepIdentity(q *request, obj, current runtime.Object) error {
	m, _ := meta.Accessor(obj)
	cur, _ := meta.Accessor(current)
	if m.GetName() != cur.GetName() || m.GetNamespace() != cur.GetNamespace() {
		return apierrors.NewBadRequest(fmt.Sprintf("the name and namespace of %s %q cannot be changed by a patch", q.kind.Resource, cur.GetName()))
	}
	if m.GetResourceVersion() == cur.GetResourceVersion() {
		m.SetResourceVersion("")
	}
	return nil
}

func (s *Server) toJSON(obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	var buf bytes.Buffer
	if err := s.codecs.encodeJSON(&buf, obj.DeepCopyObject(), gvk); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
