package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/autoscaling/horizontalpodautoscaler/
// strategy.go (Apache-2.0). autoscaling/v1 and autoscaling/v2 share them: both convert to the
// same internal type.

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/apis/autoscaling"
	autoscalingvalidation "k8s.io/kubernetes/pkg/apis/autoscaling/validation"
	"k8s.io/kubernetes/pkg/features"
)

func hpaRules[V runtime.Object]() rules[V, *autoscaling.HorizontalPodAutoscaler] {
	return rules[V, *autoscaling.HorizontalPodAutoscaler]{
		prepareCreate: func(ctx context.Context, hpa *autoscaling.HorizontalPodAutoscaler) {
			hpa.Status = autoscaling.HorizontalPodAutoscalerStatus{}
			if utilfeature.DefaultFeatureGate.Enabled(features.HPAGeneration) {
				hpa.Generation = 1
			}
			dropDisabledHPAFields(hpa, nil)
		},
		prepareUpdate: func(ctx context.Context, hpa, old *autoscaling.HorizontalPodAutoscaler) {
			hpa.Status = old.Status
			dropDisabledHPAFields(hpa, old)
			if utilfeature.DefaultFeatureGate.Enabled(features.HPAGeneration) && !apiequality.Semantic.DeepEqual(hpa.Spec, old.Spec) {
				hpa.Generation = old.Generation + 1
			}
		},
		prepareStatusUpdate: func(ctx context.Context, hpa, old *autoscaling.HorizontalPodAutoscaler) {
			hpa.Spec = old.Spec
		},
		validate: func(ctx context.Context, hpa *autoscaling.HorizontalPodAutoscaler) field.ErrorList {
			return autoscalingvalidation.ValidateHorizontalPodAutoscaler(hpa, hpaValidationOptions(hpa, nil))
		},
		validateUpdate: func(ctx context.Context, hpa, old *autoscaling.HorizontalPodAutoscaler) field.ErrorList {
			return autoscalingvalidation.ValidateHorizontalPodAutoscalerUpdate(hpa, old, hpaValidationOptions(hpa, old))
		},
		validateStatusUpdate: func(ctx context.Context, hpa, old *autoscaling.HorizontalPodAutoscaler) field.ErrorList {
			return autoscalingvalidation.ValidateHorizontalPodAutoscalerStatusUpdate(hpa, old)
		},
		declarative: func(hpa, old *autoscaling.HorizontalPodAutoscaler) rest.DeclarativeValidationConfig {
			return rest.DeclarativeValidationConfig{Options: map[string]bool{
				string(features.HPAScaleToZero): hpaScaleToZero(old),
			}}
		},
	}
}

// hpaScaleToZero reports whether minReplicas may be 0: its feature is on, or the object
// already had it.
func hpaScaleToZero(old *autoscaling.HorizontalPodAutoscaler) bool {
	return utilfeature.DefaultFeatureGate.Enabled(features.HPAScaleToZero) ||
		old != nil && old.Spec.MinReplicas != nil && *old.Spec.MinReplicas == 0
}

func hpaValidationOptions(hpa, old *autoscaling.HorizontalPodAutoscaler) autoscalingvalidation.HorizontalPodAutoscalerSpecValidationOptions {
	opts := autoscalingvalidation.HorizontalPodAutoscalerSpecValidationOptions{
		MinReplicasLowerBound: 1,
		ScaleTargetRefValidationOptions: autoscalingvalidation.CrossVersionObjectReferenceValidationOptions{
			AllowInvalidAPIVersion: false, AllowEmptyAPIGroup: false, RequiredCoveredByDeclarative: true,
		},
		ObjectMetricsValidationOptions: autoscalingvalidation.CrossVersionObjectReferenceValidationOptions{
			AllowInvalidAPIVersion: false, AllowEmptyAPIGroup: true,
		},
	}
	if hpaScaleToZero(old) {
		opts.MinReplicasLowerBound = 0
	}
	switch {
	case old != nil && old.Spec.ScaleTargetRef.APIVersion == hpa.Spec.ScaleTargetRef.APIVersion && old.Spec.ScaleTargetRef.Kind == hpa.Spec.ScaleTargetRef.Kind:
		// Unchanged target: tolerate what older servers let through.
		opts.ScaleTargetRefValidationOptions.AllowInvalidAPIVersion = true
	case hpa.Spec.ScaleTargetRef.Kind == "ReplicationController":
		// Replication controllers are in the core group.
		opts.ScaleTargetRefValidationOptions.AllowEmptyAPIGroup = true
	}
	if old != nil {
		for _, metric := range old.Spec.Metrics {
			if metric.Type == autoscaling.ObjectMetricSourceType && metric.Object != nil {
				if err := autoscalingvalidation.ValidateAPIVersion(metric.Object.DescribedObject, opts.ObjectMetricsValidationOptions); err != nil {
					opts.ObjectMetricsValidationOptions.AllowInvalidAPIVersion = true
					break
				}
			}
		}
	}
	return opts
}

// dropDisabledHPAFields clears the scaling rules' tolerance unless its feature is on or the
// object already used it.
func dropDisabledHPAFields(hpa, old *autoscaling.HorizontalPodAutoscaler) {
	if utilfeature.DefaultFeatureGate.Enabled(features.HPAConfigurableTolerance) || toleranceInUse(old) || hpa.Spec.Behavior == nil {
		return
	}
	for _, rules := range []*autoscaling.HPAScalingRules{hpa.Spec.Behavior.ScaleDown, hpa.Spec.Behavior.ScaleUp} {
		if rules != nil {
			rules.Tolerance = nil
		}
	}
}

func toleranceInUse(hpa *autoscaling.HorizontalPodAutoscaler) bool {
	if hpa == nil || hpa.Spec.Behavior == nil {
		return false
	}
	for _, rules := range []*autoscaling.HPAScalingRules{hpa.Spec.Behavior.ScaleDown, hpa.Spec.Behavior.ScaleUp} {
		if rules != nil && rules.Tolerance != nil {
			return true
		}
	}
	return false
}
