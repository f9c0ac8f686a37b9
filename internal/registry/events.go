package registry

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
)

// Kubernetes keeps core/v1 and events.k8s.io/v1 events in one storage, as one internal type
// with one strategy (k8s.io/kubernetes/pkg/registry/core/event). Both are served here with
// those rules; the only difference is validation, which depends on the version requested.

var coreEventRules = eventRules(coreEventFields)

// eventsV1Rules give events.k8s.io/v1 events the fields of the shared storage, which the field
// labels of that version convert to (regarding.kind becomes involvedObject.kind, see
// Kind.ConvertFieldLabel), and the version's own names besides, so that a selector matches
// whether or not its labels were converted.
var eventsV1Rules = eventRules(func(ev *eventsv1.Event) fields.Set {
	source := ev.DeprecatedSource.Component
	if source == "" {
		source = ev.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            ev.Regarding.Kind,
		"involvedObject.namespace":       ev.Regarding.Namespace,
		"involvedObject.name":            ev.Regarding.Name,
		"involvedObject.uid":             string(ev.Regarding.UID),
		"involvedObject.apiVersion":      ev.Regarding.APIVersion,
		"involvedObject.resourceVersion": ev.Regarding.ResourceVersion,
		"involvedObject.fieldPath":       ev.Regarding.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,

		"regarding.kind":            ev.Regarding.Kind,
		"regarding.namespace":       ev.Regarding.Namespace,
		"regarding.name":            ev.Regarding.Name,
		"regarding.uid":             string(ev.Regarding.UID),
		"regarding.apiVersion":      ev.Regarding.APIVersion,
		"regarding.resourceVersion": ev.Regarding.ResourceVersion,
		"regarding.fieldPath":       ev.Regarding.FieldPath,
		"reportingController":       ev.ReportingController,
	}
})

// eventRules serve both core/v1 and events.k8s.io/v1 events; validation depends on which.
func eventRules[V runtime.Object](fieldsOf func(V) fields.Set) rules[V, *api.Event] {
	return rules[V, *api.Event]{
		validate: func(ctx context.Context, ev *api.Event) field.ErrorList {
			return corevalidation.ValidateEventCreate(ev, requestGroupVersion(ctx))
		},
		validateUpdate: func(ctx context.Context, ev, old *api.Event) field.ErrorList {
			return corevalidation.ValidateEventUpdate(ev, old, requestGroupVersion(ctx))
		},
		fields:              fieldsOf,
		allowCreateOnUpdate: true,
	}
}

func requestGroupVersion(ctx context.Context) schema.GroupVersion {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		return schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return schema.GroupVersion{}
}

// coreEventFields are upstream's event GetAttrs, the fields both event kinds match against.
func coreEventFields(ev *corev1.Event) fields.Set {
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}
}
