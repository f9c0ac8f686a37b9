package registry

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
)

// TestMain silences klog: upstream's declarative validation logs every difference it finds
// between handwritten and declarative errors, and the minimal objects below are invalid.
func TestMain(m *testing.M) {
	flags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(flags)
	for name, value := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := flags.Set(name, value); err != nil {
			panic(err)
		}
	}
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// lookup returns the served kind of gvk.
func lookup(t *testing.T, gvk schema.GroupVersionKind) *Kind {
	t.Helper()
	for _, k := range Kinds() {
		if k.GroupVersionKind == gvk {
			return k
		}
	}
	t.Fatalf("%s is not served", gvk)
	return nil
}

// errorsString renders errs one per line, for failure messages and substring checks.
func errorsString(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "%s\n", e.Error())
	}
	return b.String()
}

func columnNames(table *metav1.Table) []string {
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	return names
}

// TestKinds checks every kind against the scheme and runs each of its operations once on a
// minimal object, which need not be valid: nothing may panic.
func TestKinds(t *testing.T) {
	ctx := context.Background()
	seenKinds := map[schema.GroupVersionKind]bool{}
	seenResources := map[schema.GroupVersionResource]bool{}
	for _, k := range Kinds() {
		t.Run(k.GroupVersionResource().String(), func(t *testing.T) {
			if seenKinds[k.GroupVersionKind] || seenResources[k.GroupVersionResource()] {
				t.Fatalf("served twice")
			}
			seenKinds[k.GroupVersionKind], seenResources[k.GroupVersionResource()] = true, true
			if k.Singular != strings.ToLower(k.GroupVersionKind.Kind) {
				t.Errorf("singular %q, want %q", k.Singular, strings.ToLower(k.GroupVersionKind.Kind))
			}
			for _, s := range k.Subresources {
				if !slices.Contains([]string{"status", "scale", "binding", "eviction", "finalize", "approval", "log", "exec", "attach", "portforward", "proxy"}, s) {
					t.Errorf("unknown subresource %q", s)
				}
			}
			if (k.Scale != nil) != k.HasSubresource("scale") {
				t.Errorf("Scale set: %v, scale subresource: %v", k.Scale != nil, k.HasSubresource("scale"))
			}

			obj, list := k.New(), k.NewList()
			for _, tc := range []struct {
				obj  runtime.Object
				kind string
			}{{obj, k.GroupVersionKind.Kind}, {list, k.GroupVersionKind.Kind + "List"}} {
				gvks, _, err := Scheme().ObjectKinds(tc.obj)
				want := k.GroupVersionKind.GroupVersion().WithKind(tc.kind)
				if err != nil || !slices.Contains(gvks, want) {
					t.Errorf("Scheme kinds of %T: %v, %v; want %s", tc.obj, gvks, err, want)
				}
			}

			m := accessor(obj)
			m.SetName("minimal")
			if k.Namespaced {
				m.SetNamespace("default")
			}
			m.SetUID("7b3f4a9c-0000-4000-8000-000000000001")
			s := k.Strategy
			s.PrepareForCreate(ctx, obj)
			s.Default(obj)
			_ = s.Validate(ctx, obj)

			updated := obj.DeepCopyObject()
			accessor(updated).SetLabels(map[string]string{"changed": "true"})
			s.PrepareForUpdate(ctx, updated, obj)
			_ = s.ValidateUpdate(ctx, updated, obj)
			if k.HasSubresource("status") {
				status := obj.DeepCopyObject()
				s.PrepareForStatusUpdate(ctx, status, obj)
				_ = s.ValidateStatusUpdate(ctx, status, obj)
			}

			fields := s.Fields(obj)
			if fields["metadata.name"] != "minimal" {
				t.Errorf("Fields: metadata.name = %q", fields["metadata.name"])
			}
			if _, ok := fields["metadata.namespace"]; !ok {
				t.Errorf("Fields: no metadata.namespace")
			}
			// Every field a kind offers passes, converted, its own field label conversion.
			for label := range fields {
				if converted, _, err := k.ConvertFieldLabel(label, "x"); err == nil {
					if _, ok := fields[converted]; !ok {
						t.Errorf("ConvertFieldLabel(%q) = %q, which Fields lacks", label, converted)
					}
				}
			}

			for _, wide := range []bool{false, true} {
				table, err := s.Table(ctx, list, TableOptions{Wide: wide})
				if err != nil {
					t.Fatalf("Table(empty list, wide=%v): %v", wide, err)
				}
				// Every kind has a Name column, events only with -o wide.
				if len(table.Rows) != 0 || !slices.Contains(columnNames(table), "Name") && (wide || k.GroupVersionKind.Kind != "Event") {
					t.Errorf("Table(empty list, wide=%v): rows %d, columns %v", wide, len(table.Rows), columnNames(table))
				}
			}
			table, err := s.Table(ctx, obj, TableOptions{Wide: true, NoHeaders: true})
			if err != nil {
				t.Fatalf("Table(object): %v", err)
			}
			if len(table.ColumnDefinitions) != 0 || len(table.Rows) != 1 || !slices.Contains(table.Rows[0].Cells, any("minimal")) || table.Rows[0].Object.Object != nil {
				t.Errorf("Table(object, wide, no headers) = %+v", table)
			}
		})
	}
}

func TestKindsDiscovery(t *testing.T) {
	// What `kubectl api-resources` shows against Kubernetes for a sample of kinds.
	tests := []struct {
		gvk        schema.GroupVersionKind
		resource   string
		namespaced bool
		shortNames []string
		categories []string
		sub        []string
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "pods", true, []string{"po"}, []string{"all"}, []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy"}},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false, []string{"ns"}, nil, []string{"status", "finalize"}},
		{schema.GroupVersionKind{Version: "v1", Kind: "Endpoints"}, "endpoints", true, []string{"ep"}, nil, nil},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true, []string{"deploy"}, []string{"all"}, []string{"status", "scale"}},
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, "jobs", true, nil, []string{"all"}, []string{"status"}},
		{schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "HorizontalPodAutoscaler"}, "horizontalpodautoscalers", true, []string{"hpa"}, []string{"all"}, []string{"status"}},
		{schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, "horizontalpodautoscalers", true, []string{"hpa"}, []string{"all"}, []string{"status"}},
		{schema.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "Event"}, "events", true, []string{"ev"}, nil, nil},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "clusterroles", false, nil, nil, nil},
		{schema.GroupVersionKind{Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass"}, "priorityclasses", false, []string{"pc"}, nil, nil},
		{schema.GroupVersionKind{Group: "certificates.k8s.io", Version: "v1", Kind: "CertificateSigningRequest"}, "certificatesigningrequests", false, []string{"csr"}, nil, []string{"status", "approval"}},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.String(), func(t *testing.T) {
			k := lookup(t, tt.gvk)
			if k.Resource != tt.resource || k.Namespaced != tt.namespaced ||
				!slices.Equal(k.ShortNames, tt.shortNames) || !slices.Equal(k.Categories, tt.categories) || !slices.Equal(k.Subresources, tt.sub) {
				t.Errorf("got %s namespaced=%v short=%v categories=%v sub=%v", k.Resource, k.Namespaced, k.ShortNames, k.Categories, k.Subresources)
			}
		})
	}
}
