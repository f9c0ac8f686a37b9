package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	restful "github.com/emicklei/go-restful/v3"
)

// swaggerDocumented is implemented by k8s.io/api and meta/v1 types: field descriptions keyed by
// JSON name.
type swaggerDocumented interface {
	SwaggerDoc() map[string]string
}

// addObjectParams documents the top-level scalar fields of obj (a pointer to an options struct
// such as metav1.ListOptions or corev1.PodLogOptions) as query parameters, the way
// kube-apiserver's installer does: the JSON name is the parameter name and the type's
// SwaggerDoc the description. Struct, pointer-to-struct and interface fields are skipped, as are
// the names in excluded.
func addObjectParams(ws *restful.WebService, rb *restful.RouteBuilder, obj any, excluded ...string) {
	t := reflect.TypeOf(obj)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("openapi: options %T is not a pointer to a struct", obj))
	}
	t = t.Elem()
	var docs map[string]string
	if d, ok := obj.(swaggerDocumented); ok {
		docs = d.SwaggerDoc()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct || ft.Kind() == reflect.Interface {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || slices.Contains(excluded, name) {
			continue
		}
		rb.Param(ws.QueryParameter(name, docs[name]).DataType(jsonType(ft)))
	}
}

// jsonType is the OpenAPI type of a query parameter of Go type t. Slices are documented by
// their element type, as kube-apiserver does (go-restful cannot express array parameters).
func jsonType(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	default:
		return "string"
	}
}
