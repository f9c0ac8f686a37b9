package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/internal/registry"
)

// discovery holds the discovery documents, computed once from the served kinds: they change
// only when the set of kinds does.
type discovery struct {
	legacyAPI  []byte            // /api
	legacyAPIs []byte            // /apis
	aggAPI     []byte            // /api, aggregated form
	aggAPIs    []byte            // /apis, aggregated form
	groups     map[string][]byte // /apis/<group>
	resources  map[string][]byte // /api/v1 and /apis/<group>/<version>
}

var objectVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// subresourceVerbs and the kind each subresource answers with (empty: the parent's kind).
var subresources = map[string]struct {
	verbs metav1.Verbs
	gvk   schema.GroupVersionKind
}{
	"status":   {metav1.Verbs{"get", "patch", "update"}, schema.GroupVersionKind{}},
	"scale":    {metav1.Verbs{"get", "patch", "update"}, scaleGVK},
	"binding":  {metav1.Verbs{"create"}, bindingGVK},
	"eviction": {metav1.Verbs{"create"}, evictionGVK},
	"finalize": {metav1.Verbs{"update"}, schema.GroupVersionKind{}},
	"approval": {metav1.Verbs{"get", "patch", "update"}, schema.GroupVersionKind{}},
	// Served by the node agents, through the server.
	"log":         {metav1.Verbs{"get"}, schema.GroupVersionKind{}},
	"exec":        {metav1.Verbs{"create", "get"}, corev1.SchemeGroupVersion.WithKind("PodExecOptions")},
	"attach":      {metav1.Verbs{"create", "get"}, corev1.SchemeGroupVersion.WithKind("PodAttachOptions")},
	"portforward": {metav1.Verbs{"create", "get"}, corev1.SchemeGroupVersion.WithKind("PodPortForwardOptions")},
	// Its kind is the parent's: NodeProxyOptions, PodProxyOptions, ServiceProxyOptions.
	"proxy": {metav1.Verbs{"create", "delete", "get", "patch", "update"}, schema.GroupVersionKind{}},
}

// groupVersionOrder lists each group's versions, preferred first.
func groupVersionOrder(kinds []*registry.Kind) ([]string, map[string][]string) {
	var groups []string
	versions := map[string][]string{}
	for _, k := range kinds {
		g, v := k.GroupVersionKind.Group, k.GroupVersionKind.Version
		if _, ok := versions[g]; !ok {
			groups = append(groups, g)
		}
		if !contains(versions[g], v) {
			versions[g] = append(versions[g], v)
		}
	}
	for _, vs := range versions {
		// Kubernetes prefers the highest stable version: v2 over v1.
		sort.Slice(vs, func(i, j int) bool { return vs[i] > vs[j] })
	}
	return groups, versions
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newDiscovery(kinds []*registry.Kind, serverAddress string) *discovery {
	d := &discovery{groups: map[string][]byte{}, resources: map[string][]byte{}}
	groups, versions := groupVersionOrder(kinds)

	legacyByGV := map[schema.GroupVersion][]metav1.APIResource{}
	aggByGV := map[schema.GroupVersion][]apidiscoveryv2.APIResourceDiscovery{}
	for _, k := range kinds {
		gv := k.GroupVersionKind.GroupVersion()
		legacyByGV[gv] = append(legacyByGV[gv], legacyResources(k)...)
		aggByGV[gv] = append(aggByGV[gv], aggregatedResource(k))
	}
	// The resource metrics API has no kinds in storage; the server computes it.
	groups = append(groups, metricsGV.Group)
	versions[metricsGV.Group] = []string{metricsGV.Version}
	for _, r := range metricsResources {
		legacyByGV[metricsGV] = append(legacyByGV[metricsGV], r)
		aggByGV[metricsGV] = append(aggByGV[metricsGV], aggregatedComputed(metricsGV, r))
	}

	d.legacyAPI = mustJSON(&metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress}},
	})
	groupList := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	aggAPI := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: aggregatedTypeMeta}
	aggAPIs := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: aggregatedTypeMeta}
	for _, g := range groups {
		group := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
		agg := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		for _, v := range versions[g] {
			gv := schema.GroupVersion{Group: g, Version: v}
			group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: v})
			list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String(), APIResources: legacyByGV[gv]}
			d.resources[discoveryPath(gv)] = mustJSON(list)
			agg.Versions = append(agg.Versions, apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent, Resources: aggByGV[gv]})
		}
		group.PreferredVersion = group.Versions[0]
		if g == "" {
			aggAPI.Items = append(aggAPI.Items, agg)
			continue
		}
		d.groups["/apis/"+g] = mustJSON(&group)
		groupList.Groups = append(groupList.Groups, group)
		aggAPIs.Items = append(aggAPIs.Items, agg)
	}
	d.legacyAPIs = mustJSON(groupList)
	d.aggAPI = mustJSON(aggAPI)
	d.aggAPIs = mustJSON(aggAPIs)
	return d
}

// aggregatedComputed is the aggregated discovery entry of a resource that has no Kind.
func aggregatedComputed(gv schema.GroupVersion, r metav1.APIResource) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if r.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	return apidiscoveryv2.APIResourceDiscovery{
		Resource:     r.Name,
		ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind},
		Scope:        scope,
		Verbs:        r.Verbs,
	}
}

var aggregatedTypeMeta = metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}

func discoveryPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

func legacyResources(k *registry.Kind) []metav1.APIResource {
	out := []metav1.APIResource{{
		Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.GroupVersionKind.Kind,
		Verbs: objectVerbs, ShortNames: k.ShortNames, Categories: k.Categories,
	}}
	for _, sub := range k.Subresources {
		info := subresources[sub]
		r := metav1.APIResource{Name: k.Resource + "/" + sub, Namespaced: k.Namespaced, Kind: k.GroupVersionKind.Kind, Verbs: info.verbs}
		if gvk := subresourceKind(k, sub); !gvk.Empty() {
			r.Group, r.Version, r.Kind = gvk.Group, gvk.Version, gvk.Kind
		}
		out = append(out, r)
	}
	return out
}

func aggregatedResource(k *registry.Kind) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if k.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	gvk := k.GroupVersionKind
	r := apidiscoveryv2.APIResourceDiscovery{
		Resource:         k.Resource,
		ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Scope:            scope,
		SingularResource: k.Singular,
		Verbs:            objectVerbs,
		ShortNames:       k.ShortNames,
		Categories:       k.Categories,
	}
	for _, sub := range k.Subresources {
		info := subresources[sub]
		kind := gvk
		if sk := subresourceKind(k, sub); !sk.Empty() {
			kind = sk
		}
		r.Subresources = append(r.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			ResponseKind: &metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind},
			Verbs:        info.verbs,
		})
	}
	return r
}

// subresourceKind is the kind a subresource of k answers with; empty for the parent's own.
func subresourceKind(k *registry.Kind, sub string) schema.GroupVersionKind {
	if sub == "proxy" {
		return corev1.SchemeGroupVersion.WithKind(k.GroupVersionKind.Kind + "ProxyOptions")
	}
	return subresources[sub].gvk
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// aggregatedRequested reports whether the client accepts the aggregated discovery form.
func aggregatedRequested(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// serve answers a discovery path, reporting false if path is not one.
func (d *discovery) serve(w http.ResponseWriter, r *http.Request) bool {
	var body []byte
	contentType := "application/json"
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api" && aggregatedRequested(r):
		body, contentType = d.aggAPI, aggregatedContentType
	case path == "/apis" && aggregatedRequested(r):
		body, contentType = d.aggAPIs, aggregatedContentType
	case path == "/api":
		body = d.legacyAPI
	case path == "/apis":
		body = d.legacyAPIs
	default:
		var ok bool
		if body, ok = d.resources[path]; !ok {
			if body, ok = d.groups[path]; !ok {
				return false
			}
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return true
}
