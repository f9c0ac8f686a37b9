package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/gantryhq/gantry/internal/registry"
)

// fieldManagerMaxLength is the longest manager name Kubernetes accepts.
const fieldManagerMaxLength = 128

// fieldManagers records which manager owns which fields (metadata.managedFields) on every
// write, and merges server-side apply requests, with apimachinery's field manager: the same code
// kube-apiserver runs.
type fieldManagers struct {
	converter managedfields.TypeConverter
	scheme    *runtime.Scheme

	mu     sync.Mutex
	byKind map[fieldManagerKey]*managedfields.FieldManager
}

type fieldManagerKey struct {
	kind        *registry.Kind
	subresource string
}

// defaulter applies a kind's defaults to objects the field manager builds.
type defaulter struct{ kind *registry.Kind }

func (d defaulter) Default(obj runtime.Object) { d.kind.Strategy.Default(obj) }

func (f *fieldManagers) get(kind *registry.Kind, subresource string) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fieldManagerKey{kind, subresource}
	if fm, ok := f.byKind[k]; ok {
		return fm, nil
	}
	gv := kind.GroupVersionKind.GroupVersion()
	// Each half of a kind with a status subresource owns its own fields: a write to the object
	// cannot take ownership of status, nor a status write of the spec.
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if kind.HasSubresource("status") {
		path := "status"
		if subresource == "status" || subresource == "approval" {
			path = "spec"
		}
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(gv.String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(path))),
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(f.converter, f.scheme, defaulter{kind}, f.scheme, kind.GroupVersionKind, gv, subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", kind.Resource, err)
	}
	f.byKind[k] = fm
	return fm, nil
}

// track records manager's ownership of the fields it set in obj compared with live (an empty
// object for a create). It returns the object to store.
func (f *fieldManagers) track(kind *registry.Kind, o writeOptions, live, obj runtime.Object) runtime.Object {
	if o.apply || o.subresource == "scale" {
		return obj
	}
	fm, err := f.get(kind, o.subresource)
	if err != nil {
		return obj
	}
	return fm.UpdateNoErrors(live, obj, o.manager)
}

// apply merges an apply configuration (YAML or JSON) into live and returns the result.
func (f *fieldManagers) apply(kind *registry.Kind, o writeOptions, live runtime.Object, patch []byte, fv fieldValidation, force bool) (runtime.Object, error) {
	fm, err := f.get(kind, o.subresource)
	if err != nil {
		return nil, err
	}
	applied := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(patch, &applied.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
	}
	if fv == validationStrict {
		if err := yaml.UnmarshalStrict(patch, &map[string]any{}); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding patch: %v", err))
		}
	}
	out, err := fm.Apply(live, applied, o.manager, force)
	if err != nil {
		// Conflicts come as API errors; the rest say what in the request is wrong.
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return out, nil
}

// fieldManagerName is the fieldManager query parameter, or for writes other than apply the
// start of the User-Agent, as kube-apiserver does.
func fieldManagerName(r *http.Request, apply bool) (string, error) {
	name := r.URL.Query().Get("fieldManager")
	if name == "" && apply {
		return "", apierrors.NewInvalid(schemaPatchOptions, "", field.ErrorList{
			field.Required(field.NewPath("fieldManager"), "is required for apply requests")})
	}
	if name == "" {
		name = prefixFromUserAgent(r.UserAgent())
	}
	if len(name) > fieldManagerMaxLength {
		return "", apierrors.NewInvalid(schemaPatchOptions, "", field.ErrorList{
			field.TooLong(field.NewPath("fieldManager"), "", fieldManagerMaxLength)})
	}
	return name, nil
}

var schemaPatchOptions = metav1.SchemeGroupVersion.WithKind("PatchOptions").GroupKind()

func prefixFromUserAgent(ua string) string {
	prefix, _, _ := strings.Cut(ua, "/")
	var buf bytes.Buffer
	for _, r := range prefix {
		if !unicode.IsPrint(r) {
			continue
		}
		if buf.Len()+utf8.RuneLen(r) > fieldManagerMaxLength {
			break
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// newLive is the empty object an apply that creates is merged into.
func newLive(kind *registry.Kind, ns, name string) runtime.Object {
	obj := kind.New()
	m, _ := meta.Accessor(obj)
	m.SetNamespace(ns)
	m.SetName(name)
	obj.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind)
	return obj
}
