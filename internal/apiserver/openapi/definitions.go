package openapi

import (
	"fmt"
	"maps"
	"sort"
	"sync"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// definitions holds the generated schemas. Generating them is the most expensive step of a
// build, so it runs once per reference style ("#/definitions/" for v2, "#/components/schemas/"
// for v3) and each build gets a copy: the kube-openapi builders write extensions (the
// group-version-kind list) into the Extensions map of the definitions they are given, which
// would race between concurrent builds.
type definitions struct {
	get  common.GetOpenAPIDefinitions
	name func(string) (string, spec.Extensions)

	v2, v3 lazyDefinitions
}

type lazyDefinitions struct {
	once sync.Once
	defs map[string]common.OpenAPIDefinition
}

func (d *definitions) forV2() map[string]common.OpenAPIDefinition {
	return copyDefinitions(d.v2.load(d, "#/definitions/"))
}

func (d *definitions) forV3() map[string]common.OpenAPIDefinition {
	return copyDefinitions(d.v3.load(d, "#/components/schemas/"))
}

// load generates the definitions on first use, with references to prefix + definition name.
// The returned map is shared: copy it before handing it to a builder.
func (l *lazyDefinitions) load(d *definitions, prefix string) map[string]common.OpenAPIDefinition {
	l.once.Do(func() {
		l.defs = d.get(func(path string) spec.Ref {
			n, _ := d.name(path)
			return spec.MustCreateRef(prefix + common.EscapeJsonPointer(n))
		})
	})
	return l.defs
}

// copyDefinitions copies defs deeply enough for a builder to add extensions to the copy.
func copyDefinitions(defs map[string]common.OpenAPIDefinition) map[string]common.OpenAPIDefinition {
	out := make(map[string]common.OpenAPIDefinition, len(defs))
	for k, def := range defs {
		def.Schema.Extensions = maps.Clone(def.Schema.Extensions)
		out[k] = def
	}
	return out
}

// check reports the samples (Go values the routes read or write) that have no definition; the
// builders would fail on them.
func (d *definitions) check(samples []any) error {
	defs := d.v3.load(d, "#/components/schemas/")
	var names []string
	seen := map[string]bool{}
	for _, s := range samples {
		n := util.GetCanonicalTypeName(s)
		if t, _ := common.OpenAPITypeFormat(n); t != "" {
			continue // a primitive such as "string"
		}
		if _, ok := defs[n]; !ok && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("no OpenAPI definition for %v: add the generated definitions with WithDefinitions", names)
}

// mergeDefinitions combines generated definition sets; later sets win.
func mergeDefinitions(gets ...common.GetOpenAPIDefinitions) common.GetOpenAPIDefinitions {
	if len(gets) == 1 {
		return gets[0]
	}
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		out := map[string]common.OpenAPIDefinition{}
		for _, get := range gets {
			maps.Copy(out, get(ref))
		}
		return out
	}
}
