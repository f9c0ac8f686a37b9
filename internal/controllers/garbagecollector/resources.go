package garbagecollector

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resource is one kind of object the collector can reach.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	// watched: listable, watchable and deletable, so the collector keeps it in the graph.
	watched bool
}

// ignored resources are never watched, as upstream: events are many, short-lived and owned by
// no one.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// resources maps the kinds named in ownerReferences to the API resources that serve them.
type resources struct {
	byGroupKind map[schema.GroupKind]resource
}

// newResources indexes the preferred resources discovery returned. A kind is found by group
// and kind alone: a reference through another version of the API names the same object.
func newResources(lists []*metav1.APIResourceList) *resources {
	r := &resources{byGroupKind: map[schema.GroupKind]resource{}}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, ar := range list.APIResources {
			if strings.Contains(ar.Name, "/") {
				continue // a subresource
			}
			gvr := gv.WithResource(ar.Name)
			gk := schema.GroupKind{Group: gv.Group, Kind: ar.Kind}
			if _, dup := r.byGroupKind[gk]; dup {
				continue
			}
			r.byGroupKind[gk] = resource{
				gvr:        gvr,
				kind:       ar.Kind,
				namespaced: ar.Namespaced,
				watched:    !ignored[gvr.GroupResource()] && hasVerbs(ar.Verbs, "list", "watch", "delete"),
			}
		}
	}
	return r
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, v := range want {
		if !slices.Contains(have, v) {
			return false
		}
	}
	return true
}

// watched lists the resources the graph is built from, in a stable order.
func (r *resources) watched() []resource {
	var out []resource
	for _, res := range r.byGroupKind {
		if res.watched {
			out = append(out, res)
		}
	}
	slices.SortFunc(out, func(a, b resource) int { return strings.Compare(a.gvr.String(), b.gvr.String()) })
	return out
}

// lookup finds the resource for the object ref names.
func (r *resources) lookup(ref objectRef) (resource, error) {
	res, ok := r.byGroupKind[ref.groupKind()]
	if !ok {
		return resource{}, fmt.Errorf("no resource serves %s %s", ref.APIVersion, ref.Kind)
	}
	return res, nil
}
