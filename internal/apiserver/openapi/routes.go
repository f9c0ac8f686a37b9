package openapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	restful "github.com/emicklei/go-restful/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/registry"
)

// Action verbs of kube-apiserver's installer (k8s.io/apiserver/pkg/endpoints/installer.go).
// Lower-cased, they are the values of the x-kubernetes-action extension.
const (
	verbGet              = "GET"
	verbList             = "LIST"
	verbPost             = "POST"
	verbPut              = "PUT"
	verbPatch            = "PATCH"
	verbDelete           = "DELETE"
	verbDeleteCollection = "DELETECOLLECTION"
	verbWatch            = "WATCH"
	verbWatchList        = "WATCHLIST"
	verbConnect          = "CONNECT"
)

// Route metadata keys; the builders copy every x- key into the operation.
const (
	extensionGVK    = "x-kubernetes-group-version-kind"
	extensionAction = "x-kubernetes-action"
)

const prettyDoc = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."

var (
	// mediaTypes are the encodings documented for single objects, streamMediaTypes those
	// added for lists and watches: the set kube-apiserver documents.
	mediaTypes       = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	streamMediaTypes = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	allMediaTypes    = append(append([]string(nil), mediaTypes...), streamMediaTypes...)
	// patchTypes are the PATCH bodies; kubectl looks for strategic-merge-patch in the OpenAPI
	// v3 request body to decide how to compute `kubectl apply` patches.
	patchTypes = []string{
		string(types.JSONPatchType),
		string(types.MergePatchType),
		string(types.StrategicMergePatchType),
		string(types.ApplyYAMLPatchType),
	}
)

// subresource describes how a subresource is documented. The zero object means the parent's
// type and GroupVersionKind (status and the like).
type subresource struct {
	verbs  []string
	object runtime.Object
	gvk    schema.GroupVersionKind
	// getOptions are the query parameters of GET (pods/log); connectOptions those of CONNECT.
	getOptions     runtime.Object
	connectOptions runtime.Object
	// produces overrides the documented response encodings.
	produces []string
	// writes overrides the documented response body ("string" for logs and streams).
	writes any
}

// subresources lists the subresources this package can document, with kube-apiserver's shapes.
// Subresources of a Kind not listed here are left out of the documents.
var subresources = map[string]subresource{
	"status":              {verbs: []string{verbGet, verbPut, verbPatch}},
	"ephemeralcontainers": {verbs: []string{verbGet, verbPut, verbPatch}},
	"resize":              {verbs: []string{verbGet, verbPut, verbPatch}},
	"approval":            {verbs: []string{verbGet, verbPut, verbPatch}},
	"finalize":            {verbs: []string{verbPut}},
	"scale": {
		verbs:  []string{verbGet, verbPut, verbPatch},
		object: &autoscalingv1.Scale{},
		gvk:    autoscalingv1.SchemeGroupVersion.WithKind("Scale"),
	},
	"binding": {
		verbs:  []string{verbPost},
		object: &corev1.Binding{},
		gvk:    corev1.SchemeGroupVersion.WithKind("Binding"),
	},
	"eviction": {
		verbs:  []string{verbPost},
		object: &policyv1.Eviction{},
		gvk:    policyv1.SchemeGroupVersion.WithKind("Eviction"),
	},
	"token": {
		verbs:  []string{verbPost},
		object: &authenticationv1.TokenRequest{},
		gvk:    authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
	},
	"log": {
		verbs:      []string{verbGet},
		getOptions: &corev1.PodLogOptions{},
		produces:   append([]string{"text/plain"}, mediaTypes...),
		writes:     "string",
	},
	"exec": {
		verbs:          []string{verbConnect},
		gvk:            corev1.SchemeGroupVersion.WithKind("PodExecOptions"),
		connectOptions: &corev1.PodExecOptions{},
	},
	"attach": {
		verbs:          []string{verbConnect},
		gvk:            corev1.SchemeGroupVersion.WithKind("PodAttachOptions"),
		connectOptions: &corev1.PodAttachOptions{},
	},
	"portforward": {
		verbs:          []string{verbConnect},
		gvk:            corev1.SchemeGroupVersion.WithKind("PodPortForwardOptions"),
		connectOptions: &corev1.PodPortForwardOptions{},
	},
}

// connectMethods are the HTTP methods documented for CONNECT subresources (exec, attach and
// portforward upgrade GET or POST).
var connectMethods = []string{http.MethodGet, http.MethodPost}

// noop is the handler of every route: the web services are only read by the spec builders,
// never served, but go-restful exits the process on a route without a function.
func noop(*restful.Request, *restful.Response) {}

// rootPath is the URL prefix of a group version: /api/v1 or /apis/<group>/<version>.
func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// webServices describes kinds as one go-restful WebService per group version, keyed by the
// root path without its leading slash ("api/v1", "apis/apps/v1"): the OpenAPI v3 document
// names. Kinds are documented in resource order, so the output is deterministic.
func webServices(kinds []*registry.Kind) (map[string]*restful.WebService, error) {
	byGV := map[schema.GroupVersion][]*registry.Kind{}
	seen := map[schema.GroupVersionResource]bool{}
	for _, k := range kinds {
		if k == nil {
			return nil, fmt.Errorf("nil kind")
		}
		gvk := k.GroupVersionKind
		if gvk.Version == "" || gvk.Kind == "" || k.Resource == "" {
			return nil, fmt.Errorf("kind %v (resource %q): version, kind and resource are required", gvk, k.Resource)
		}
		if k.New == nil {
			return nil, fmt.Errorf("kind %v: New is nil", gvk)
		}
		gvr := k.GroupVersionResource()
		if seen[gvr] {
			return nil, fmt.Errorf("resource %v is registered twice", gvr)
		}
		seen[gvr] = true
		byGV[gvk.GroupVersion()] = append(byGV[gvk.GroupVersion()], k)
	}

	services := make(map[string]*restful.WebService, len(byGV))
	for gv, ks := range byGV {
		sort.Slice(ks, func(i, j int) bool { return ks[i].Resource < ks[j].Resource })
		ws := newWebService(gv)
		for _, k := range ks {
			addResource(ws, k)
			subs := append([]string(nil), k.Subresources...)
			sort.Strings(subs)
			for _, name := range subs {
				if sub, ok := subresources[name]; ok {
					addSubresource(ws, k, name, sub)
				}
			}
		}
		services[strings.TrimPrefix(ws.RootPath(), "/")] = ws
	}
	return services, nil
}

func newWebService(gv schema.GroupVersion) *restful.WebService {
	ws := new(restful.WebService)
	ws.Path(rootPath(gv))
	ws.Doc("API at " + rootPath(gv))
	// kube-apiserver accepts a body of any content type on every route.
	ws.Consumes("*/*")
	ws.Produces(allMediaTypes...)
	ws.ApiVersion(gv.String())
	// The resource list of the group version (getAppsV1APIResources).
	ws.Route(ws.GET("/").To(noop).
		Doc("get available resources").
		Operation("getAPIResources").
		Consumes(mediaTypes...).
		Produces(mediaTypes...).
		Returns(http.StatusOK, "OK", metav1.APIResourceList{}).
		Writes(metav1.APIResourceList{}))
	return ws
}

// endpoint is a resource or subresource being documented.
type endpoint struct {
	ws *restful.WebService
	// kind names the parent kind in operation IDs and docs.
	kind        string
	subresource string
	namespaced  bool
	// gvk is the x-kubernetes-group-version-kind of every route, object the body read and
	// written, list the list type.
	gvk    schema.GroupVersionKind
	object runtime.Object
	list   runtime.Object
	sub    subresource
}

// action is one route to document, as in the installer: a verb at a path relative to the web
// service root, with its path parameters.
type action struct {
	verb          string
	path          string
	params        []*restful.Parameter
	allNamespaces bool
}

// addResource documents the main resource of k: list, create and deletecollection on the
// collection, get, replace, patch and delete on the item, the deprecated watch paths, and for
// namespaced kinds the list and watch across all namespaces. A kind without NewList is
// create-only, like bindings or tokenreviews.
func addResource(ws *restful.WebService, k *registry.Kind) {
	e := endpoint{
		ws:         ws,
		kind:       k.GroupVersionKind.Kind,
		namespaced: k.Namespaced,
		gvk:        k.GroupVersionKind,
		object:     k.New(),
	}
	listable := k.NewList != nil
	if listable {
		e.list = k.NewList()
	}
	collection, collectionParams, item, itemParams := paths(ws, k, e.gvk.Kind)

	var actions []action
	add := func(ok bool, a action) {
		if ok {
			actions = append(actions, a)
		}
	}
	add(listable, action{verb: verbList, path: collection, params: collectionParams})
	add(true, action{verb: verbPost, path: collection, params: collectionParams})
	add(listable, action{verb: verbDeleteCollection, path: collection, params: collectionParams})
	add(listable, action{verb: verbWatchList, path: "watch/" + collection, params: collectionParams})
	add(listable, action{verb: verbGet, path: item, params: itemParams})
	add(listable, action{verb: verbPut, path: item, params: itemParams})
	add(listable, action{verb: verbPatch, path: item, params: itemParams})
	add(listable, action{verb: verbDelete, path: item, params: itemParams})
	add(listable, action{verb: verbWatch, path: "watch/" + item, params: itemParams})
	add(listable && k.Namespaced, action{verb: verbList, path: k.Resource, allNamespaces: true})
	add(listable && k.Namespaced, action{verb: verbWatchList, path: "watch/" + k.Resource, allNamespaces: true})
	for _, a := range actions {
		e.add(a)
	}
}

// addSubresource documents one subresource of k at <item>/<name>.
func addSubresource(ws *restful.WebService, k *registry.Kind, name string, sub subresource) {
	e := endpoint{
		ws:          ws,
		kind:        k.GroupVersionKind.Kind,
		subresource: name,
		namespaced:  k.Namespaced,
		gvk:         k.GroupVersionKind,
		object:      k.New(),
		sub:         sub,
	}
	if sub.object != nil {
		e.object = sub.object
	}
	if !sub.gvk.Empty() {
		e.gvk = sub.gvk
	}
	// Path parameters name the subresource's kind ("name of the Scale"), as kube-apiserver does.
	_, _, item, itemParams := paths(ws, k, e.gvk.Kind)
	for _, verb := range sub.verbs {
		e.add(action{verb: verb, path: item + "/" + name, params: itemParams})
	}
}

// paths returns the collection and item paths of k relative to the web service root, with
// their path parameters.
func paths(ws *restful.WebService, k *registry.Kind, nameOf string) (collection string, collectionParams []*restful.Parameter, item string, itemParams []*restful.Parameter) {
	name := ws.PathParameter("name", "name of the "+nameOf).DataType("string")
	collection = k.Resource
	if k.Namespaced {
		namespace := ws.PathParameter("namespace", "object name and auth scope, such as for teams and projects").DataType("string")
		collection = "namespaces/{namespace}/" + k.Resource
		collectionParams = []*restful.Parameter{namespace}
	}
	return collection, collectionParams, collection + "/{name}", append(append([]*restful.Parameter(nil), collectionParams...), name)
}

// add documents one action, following kube-apiserver's installer: operation names such as
// patchNamespacedDeploymentScale (the spec builders insert the group and version:
// patchAppsV1NamespacedDeploymentScale), docs, parameters, bodies and responses.
func (e endpoint) add(a action) {
	ws := e.ws
	namespaced, suffix := "", ""
	if e.namespaced {
		namespaced = "Namespaced"
	}
	if a.allNamespaces {
		namespaced, suffix = "", "ForAllNamespaces"
	}
	op := namespaced + e.kind + title(e.subresource) + suffix
	of := func(plain, sub string) string {
		if e.subresource == "" {
			return plain
		}
		return sub
	}
	article := " a "
	if strings.ContainsRune("AEIOU", rune(e.kind[0])) {
		article = " an "
	}
	produces := mediaTypes
	if e.sub.produces != nil {
		produces = e.sub.produces
	}
	var writes any = e.object
	if e.sub.writes != nil {
		writes = e.sub.writes
	}
	pretty := ws.QueryParameter("pretty", prettyDoc)

	var routes []*restful.RouteBuilder
	switch a.verb {
	case verbGet:
		rb := ws.GET(a.path).
			Doc(of("read the specified "+e.kind, "read "+e.subresource+" of the specified "+e.kind)).
			Param(pretty).
			Operation("read"+op).
			Produces(produces...).
			Returns(http.StatusOK, "OK", writes).
			Writes(writes)
		if e.sub.getOptions != nil {
			addObjectParams(ws, rb, e.sub.getOptions)
		}
		routes = append(routes, rb)
	case verbList:
		rb := ws.GET(a.path).
			Doc("list or watch objects of kind "+e.kind).
			Param(pretty).
			Operation("list"+op).
			Produces(allMediaTypes...).
			Returns(http.StatusOK, "OK", e.list).
			Writes(e.list)
		addObjectParams(ws, rb, &metav1.ListOptions{})
		routes = append(routes, rb)
	case verbPut:
		rb := ws.PUT(a.path).
			Doc(of("replace the specified "+e.kind, "replace "+e.subresource+" of the specified "+e.kind)).
			Param(pretty).
			Operation("replace"+op).
			Produces(produces...).
			Returns(http.StatusOK, "OK", e.object).
			Returns(http.StatusCreated, "Created", e.object).
			Reads(e.object).
			Writes(e.object)
		addObjectParams(ws, rb, &metav1.UpdateOptions{})
		routes = append(routes, rb)
	case verbPatch:
		rb := ws.PATCH(a.path).
			Doc(of("partially update the specified "+e.kind, "partially update "+e.subresource+" of the specified "+e.kind)).
			Param(pretty).
			Consumes(patchTypes...).
			Operation("patch"+op).
			Produces(produces...).
			Returns(http.StatusOK, "OK", e.object).
			Returns(http.StatusCreated, "Created", e.object).
			Reads(metav1.Patch{}).
			Writes(e.object)
		addObjectParams(ws, rb, &metav1.PatchOptions{})
		routes = append(routes, rb)
	case verbPost:
		rb := ws.POST(a.path).
			Doc(of("create"+article+e.kind, "create "+e.subresource+" of"+article+e.kind)).
			Param(pretty).
			Operation("create"+op).
			Produces(produces...).
			Returns(http.StatusOK, "OK", e.object).
			Returns(http.StatusCreated, "Created", e.object).
			Returns(http.StatusAccepted, "Accepted", e.object).
			Reads(e.object).
			Writes(e.object)
		addObjectParams(ws, rb, &metav1.CreateOptions{})
		routes = append(routes, rb)
	case verbDelete:
		rb := ws.DELETE(a.path).
			Doc("delete"+article+e.kind).
			Param(pretty).
			Operation("delete"+op).
			Produces(produces...).
			Writes(metav1.Status{}).
			Returns(http.StatusOK, "OK", metav1.Status{}).
			Returns(http.StatusAccepted, "Accepted", metav1.Status{}).
			Reads(metav1.DeleteOptions{})
		rb.ParameterNamed("body").Required(false)
		addObjectParams(ws, rb, &metav1.DeleteOptions{})
		routes = append(routes, rb)
	case verbDeleteCollection:
		rb := ws.DELETE(a.path).
			Doc("delete collection of "+e.kind).
			Param(pretty).
			Operation("deletecollection"+op).
			Produces(produces...).
			Writes(metav1.Status{}).
			Returns(http.StatusOK, "OK", metav1.Status{}).
			Reads(metav1.DeleteOptions{})
		rb.ParameterNamed("body").Required(false)
		addObjectParams(ws, rb, &metav1.DeleteOptions{})
		addObjectParams(ws, rb, &metav1.ListOptions{}, "watch", "allowWatchBookmarks")
		routes = append(routes, rb)
	case verbWatch:
		rb := ws.GET(a.path).
			Doc("watch changes to an object of kind "+e.kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.").
			Param(pretty).
			Operation("watch"+op).
			Produces(allMediaTypes...).
			Returns(http.StatusOK, "OK", metav1.WatchEvent{}).
			Writes(metav1.WatchEvent{})
		addObjectParams(ws, rb, &metav1.ListOptions{})
		routes = append(routes, rb)
	case verbWatchList:
		rb := ws.GET(a.path).
			Doc("watch individual changes to a list of "+e.kind+". deprecated: use the 'watch' parameter with a list operation instead.").
			Param(pretty).
			Operation("watch"+namespaced+e.kind+title(e.subresource)+"List"+suffix).
			Produces(allMediaTypes...).
			Returns(http.StatusOK, "OK", metav1.WatchEvent{}).
			Writes(metav1.WatchEvent{})
		addObjectParams(ws, rb, &metav1.ListOptions{})
		routes = append(routes, rb)
	case verbConnect:
		for _, method := range connectMethods {
			rb := ws.Method(method).Path(a.path).
				Doc("connect " + method + " requests to " + e.subresource + " of " + e.kind).
				Operation("connect" + title(strings.ToLower(method)) + op).
				Produces("*/*").
				Consumes("*/*").
				Writes("string")
			addObjectParams(ws, rb, e.sub.connectOptions)
			routes = append(routes, rb)
		}
	default:
		panic("openapi: unknown action verb " + a.verb)
	}

	for _, rb := range routes {
		for _, p := range a.params {
			rb.Param(p)
		}
		rb.To(noop).
			Metadata(extensionGVK, metav1.GroupVersionKind{Group: e.gvk.Group, Version: e.gvk.Version, Kind: e.gvk.Kind}).
			Metadata(extensionAction, strings.ToLower(a.verb))
		ws.Route(rb)
	}
}

// title upper-cases the first letter and lower-cases the rest, as the installer's
// cases.Title does for subresource names: "ephemeralcontainers" → "Ephemeralcontainers".
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}
