// Package quota is the one list of what ResourceQuotas count, shared by the API server's
// ResourceQuota admission (which charges writes) and the resourcequota controller (which
// recounts usage from the stored objects), so that the two always agree. The evaluators are
// Kubernetes' own (k8s.io/kubernetes/pkg/quota/v1/evaluator/core).
package quota

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/kubernetes/pkg/quota/v1/evaluator/core"
	"k8s.io/utils/clock"
)

// Evaluators are the evaluators for what quotas count beyond plain object counts: pods' compute
// resources, services' node ports and load balancers, claims' storage, and the legacy names of
// some object counts (configmaps, secrets...). f lists objects for usage statistics; admission,
// which only measures the object being written, passes nil. Every other resource is counted by
// a generic.NewObjectCountEvaluator as count/<resource>.<group>.
func Evaluators(f quota.ListerForResourceFunc) []quota.Evaluator {
	evaluators := []quota.Evaluator{
		core.NewPodEvaluator(f, clock.RealClock{}),
		core.NewServiceEvaluator(f),
		core.NewPersistentVolumeClaimEvaluator(f),
	}
	legacy := map[schema.GroupVersionResource]corev1.ResourceName{
		corev1.SchemeGroupVersion.WithResource("configmaps"):             corev1.ResourceConfigMaps,
		corev1.SchemeGroupVersion.WithResource("resourcequotas"):         corev1.ResourceQuotas,
		corev1.SchemeGroupVersion.WithResource("replicationcontrollers"): corev1.ResourceReplicationControllers,
		corev1.SchemeGroupVersion.WithResource("secrets"):                corev1.ResourceSecrets,
	}
	for gvr, alias := range legacy {
		evaluators = append(evaluators, generic.NewObjectCountEvaluator(gvr.GroupResource(), generic.ListResourceUsingListerFunc(f, gvr), alias))
	}
	return evaluators
}

// Ignored are never counted: Kubernetes does not quota events.
var Ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:                 true,
	{Group: eventsv1.GroupName, Resource: "events"}: true,
}
