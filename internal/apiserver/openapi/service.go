package openapi

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"

	restful "github.com/emicklei/go-restful/v3"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/common/restfuladapter"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	generatedopenapi "k8s.io/kubernetes/pkg/generated/openapi"

	"github.com/gantryhq/gantry/internal/registry"
)

// Paths served by a Service.
const (
	PathV2 = "/openapi/v2"
	PathV3 = "/openapi/v3"
)

// Service serves the OpenAPI v2 and v3 documents of a set of kinds. It is safe for concurrent
// use. Documents are built on first request (or by Warm) and then cached with their ETags.
type Service struct {
	mux *http.ServeMux

	v2 cached.Value[*spec.Swagger]
	// v3 maps a document name ("api/v1", "apis/apps/v1") to its lazily built document.
	v3 map[string]cached.Value[*spec3.OpenAPI]
}

var _ http.Handler = (*Service)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	title, version string
	definitions    []common.GetOpenAPIDefinitions
}

// WithInfo sets the title and version in the documents' info section (by default "Gantry" and
// "unversioned"). Both are required by the OpenAPI format.
func WithInfo(title, version string) Option {
	return func(o *options) { o.title, o.version = title, version }
}

// WithDefinitions adds generated definitions (openapi-gen output) for types that
// k8s.io/kubernetes/pkg/generated/openapi does not cover, such as Gantry's own API types.
func WithDefinitions(get common.GetOpenAPIDefinitions) Option {
	return func(o *options) { o.definitions = append(o.definitions, get) }
}

// New describes kinds as kube-apiserver does and returns a Service serving the documents.
//
// scheme must hold the versioned types of the kinds (a k8s.io/api scheme such as client-go's
// kubernetes/scheme): a schema gets an x-kubernetes-group-version-kind extension for every
// GroupVersionKind the scheme registers for its type, which is how kubectl finds the schema of
// a kind. The schemas come from k8s.io/kubernetes/pkg/generated/openapi plus WithDefinitions.
//
// New validates the kinds (fields set, no resource twice, a definition for every type read or
// written) and prepares the route descriptions; it does not build the documents, so the cost
// at server start is mostly generating the definitions (tens of milliseconds).
func New(scheme *k8sruntime.Scheme, kinds []*registry.Kind, opts ...Option) (*Service, error) {
	o := options{title: "Gantry", version: "unversioned"}
	for _, opt := range opts {
		opt(&o)
	}
	services, err := webServices(kinds)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	namer := apiopenapi.NewDefinitionNamer(scheme)
	defs := &definitions{
		get:  mergeDefinitions(append([]common.GetOpenAPIDefinitions{generatedopenapi.GetOpenAPIDefinitions}, o.definitions...)...),
		name: namer.GetDefinitionName,
	}

	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	all := make([]*restful.WebService, 0, len(names))
	for _, name := range names {
		all = append(all, services[name])
	}
	if err := defs.check(samples(all)); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}

	info := func() *spec.Info {
		return &spec.Info{InfoProps: spec.InfoProps{Title: o.title, Version: o.version}}
	}
	s := &Service{
		mux: http.NewServeMux(),
		v3:  make(map[string]cached.Value[*spec3.OpenAPI], len(services)),
	}
	s.v2 = once(func() (*spec.Swagger, error) { return buildV2(all, defs, namer, info()) })
	v2 := handler.NewOpenAPIServiceLazy(s.v2)
	v2.RegisterOpenAPIVersionedService(PathV2, s.mux)

	v3 := handler3.NewOpenAPIService()
	for name, ws := range services {
		doc := once(func() (*spec3.OpenAPI, error) { return buildV3(name, ws, defs, namer, info()) })
		s.v3[name] = doc
		v3.UpdateGroupVersionLazy(name, doc)
	}
	if err := v3.RegisterOpenAPIV3VersionedService(PathV3, muxByPrefix{s.mux}); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return s, nil
}

// Register routes the OpenAPI paths of mux to s: /openapi/v2, /openapi/v3 and /openapi/v3/.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle(PathV2, s)
	mux.Handle(PathV3, s)
	mux.Handle(PathV3+"/", s)
}

// ServeHTTP serves GET and HEAD on /openapi/v2 (JSON, or protobuf for Accept
// application/com.github.proto-openapi.spec.v2@v1.0+protobuf), /openapi/v3 (the list of
// documents with their hashes) and /openapi/v3/<api/v1|apis/<group>/<version>> (JSON or
// protobuf). Every other path is 404.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	switch {
	case path == PathV2:
		if _, _, err := s.v2.Get(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case path == PathV3:
		// The list carries every document's hash, so it needs them all: build them in parallel
		// rather than one after the other as the handler would.
		if err := s.warmV3(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case strings.HasPrefix(path, PathV3+"/"):
		doc, ok := s.v3[strings.TrimPrefix(path, PathV3+"/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if _, _, err := doc.Get(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Warm builds every document now, in parallel, and returns the build errors. Requests build
// documents on demand, so calling Warm is optional; it moves the cost (and any error) ahead
// of the first client, e.g. `go svc.Warm()` after the server starts listening.
func (s *Service) Warm() error {
	var v2err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, v2err = s.v2.Get()
	}()
	v3err := s.warmV3()
	<-done
	return errors.Join(v2err, v3err)
}

// GroupVersions returns the names of the v3 documents ("api/v1", "apis/apps/v1"), sorted.
func (s *Service) GroupVersions() []string {
	names := make([]string, 0, len(s.v3))
	for name := range s.v3 {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (s *Service) warmV3() error {
	names := s.GroupVersions()
	errs := make([]error, len(names))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, _, errs[i] = s.v3[name].Get()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildV2 builds the single v2 document from every group version.
func buildV2(all []*restful.WebService, defs *definitions, namer *apiopenapi.DefinitionNamer, info *spec.Info) (*spec.Swagger, error) {
	sw, err := builder.BuildOpenAPISpecFromRoutes(restfuladapter.AdaptWebServices(all), &common.Config{
		ProtocolList:          []string{"https"},
		Info:                  info,
		DefaultResponse:       &spec.Response{ResponseProps: spec.ResponseProps{Description: "Default Response."}},
		GetOperationIDAndTags: apiopenapi.GetOperationIDAndTags,
		GetDefinitionName:     namer.GetDefinitionName,
		GetDefinitions: func(common.ReferenceCallback) map[string]common.OpenAPIDefinition {
			return defs.forV2()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: building v2: %w", err)
	}
	// kube-apiserver drops defaults from v2: v2 clients do not expect them.
	sw.Definitions = handler.PruneDefaults(sw.Definitions)
	return sw, nil
}

// buildV3 builds the v3 document name ("apis/apps/v1") from its web service.
func buildV3(name string, ws *restful.WebService, defs *definitions, namer *apiopenapi.DefinitionNamer, info *spec.Info) (*spec3.OpenAPI, error) {
	doc, err := builder3.BuildOpenAPISpecFromRoutes(restfuladapter.AdaptWebServices([]*restful.WebService{ws}), &common.OpenAPIV3Config{
		Info:                  info,
		DefaultResponse:       &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Default Response."}},
		GetOperationIDAndTags: apiopenapi.GetOperationIDAndTags,
		GetDefinitionName:     namer.GetDefinitionName,
		Definitions:           defs.forV3(),
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: building v3 %s: %w", name, err)
	}
	filterScopedGVKs(doc, ws.RootPath())
	return doc, nil
}

// filterScopedGVKs keeps, on the meta types registered into every group (DeleteOptions,
// WatchEvent), only the group-version-kinds of this document's group version and core/v1, as
// kube-apiserver does (k8s.io/apiserver/pkg/server/routes/openapi.go). Without it each
// document would list them for every group version of the scheme.
func filterScopedGVKs(doc *spec3.OpenAPI, root string) {
	group, version := "", ""
	switch parts := strings.Split(strings.TrimPrefix(root, "/"), "/"); {
	case len(parts) == 2 && parts[0] == "api":
		version = parts[1]
	case len(parts) == 3 && parts[0] == "apis":
		group, version = parts[1], parts[2]
	default:
		return
	}
	if doc.Components == nil {
		return
	}
	for _, schema := range doc.Components.Schemas {
		if schema == nil {
			continue
		}
		gvks, ok := schema.Extensions[extensionGVK].([]any)
		if !ok || len(gvks) <= 1 {
			continue
		}
		if first, _ := gvks[0].(map[string]any); first["kind"] != "DeleteOptions" && first["kind"] != "WatchEvent" {
			continue
		}
		var kept []any
		for _, item := range gvks {
			m, _ := item.(map[string]any)
			if (m["group"] == group && m["version"] == version) || (m["group"] == "" && m["version"] == "v1") {
				kept = append(kept, item)
			}
		}
		if len(kept) > 0 {
			schema.Extensions[extensionGVK] = kept
		} else {
			delete(schema.Extensions, extensionGVK)
		}
	}
}

// samples returns the Go values the routes read and write.
func samples(services []*restful.WebService) []any {
	var out []any
	for _, c := range restfuladapter.AdaptWebServices(services) {
		for _, r := range c.Routes() {
			out = append(out, r.RequestPayloadSample(), r.ResponsePayloadSample())
			for _, resp := range r.StatusCodeResponses() {
				out = append(out, resp.Model())
			}
		}
	}
	kept := out[:0]
	for _, v := range out {
		if v != nil {
			kept = append(kept, v)
		}
	}
	return kept
}

// once returns a cached value computed on first use. Documents never change, so the ETag of
// the source is constant; the handlers compute the served ETags from the encoded documents.
func once[T any](build func() (T, error)) cached.Value[T] {
	return cached.Once(cached.Func(func() (T, string, error) {
		v, err := build()
		return v, "static", err
	}))
}

// muxByPrefix adapts http.ServeMux to handler3's registration interface: a pattern ending in
// "/" already matches its whole subtree.
type muxByPrefix struct{ *http.ServeMux }

func (m muxByPrefix) HandlePrefix(prefix string, h http.Handler) { m.Handle(prefix, h) }
