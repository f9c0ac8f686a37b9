package registry

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
)

// tableGenerator returns the generator holding every kind's `kubectl get` columns. Building it
// registers a few hundred handlers, so it is built once, on first use.
var tableGenerator = sync.OnceValue(func() *printers.HumanReadableGenerator {
	return printers.NewTableGenerator().With(printersinternal.AddHandlers)
})

// Table renders obj, one object or a list, with the columns Kubernetes' printers define for
// the kind, after converting it to the internal version the printers are written against.
func (s *strategy[V, I]) Table(ctx context.Context, obj runtime.Object, opts TableOptions) (*metav1.Table, error) {
	var (
		table *metav1.Table
		err   error
	)
	if s.defaultTable {
		table, err = rest.NewDefaultTableConvertor(s.gvk.GroupVersion().WithResource(s.resource).GroupResource()).
			ConvertToTable(ctx, obj, &metav1.TableOptions{NoHeaders: opts.NoHeaders})
	} else {
		table, err = s.printTable(obj, opts)
	}
	if err != nil {
		return nil, err
	}
	// The printers put the internal object in each row; the caller fills in the one it serves.
	for i := range table.Rows {
		table.Rows[i].Object = runtime.RawExtension{}
	}
	return table, nil
}

func (s *strategy[V, I]) printTable(obj runtime.Object, opts TableOptions) (*metav1.Table, error) {
	internal, err := legacyscheme.Scheme.ConvertToVersion(obj, schema.GroupVersion{Group: s.gvk.Group, Version: runtime.APIVersionInternal})
	if err != nil {
		return nil, fmt.Errorf("%s: converting %T to the internal version: %w", s.resource, obj, err)
	}
	return tableGenerator().GenerateTable(internal, printers.GenerateOptions{Wide: opts.Wide, NoHeaders: opts.NoHeaders})
}
