package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/scheduling/priorityclass/strategy.go
// (Apache-2.0).

import (
	"context"

	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/scheduling"
	schedulingvalidation "k8s.io/kubernetes/pkg/apis/scheduling/validation"
)

var priorityClassRules = rules[*schedulingv1.PriorityClass, *scheduling.PriorityClass]{
	prepareCreate: func(ctx context.Context, pc *scheduling.PriorityClass) {
		pc.Generation = 1
	},
	validate: func(ctx context.Context, pc *scheduling.PriorityClass) field.ErrorList {
		return schedulingvalidation.ValidatePriorityClass(pc)
	},
	validateUpdate: func(ctx context.Context, pc, old *scheduling.PriorityClass) field.ErrorList {
		return schedulingvalidation.ValidatePriorityClassUpdate(pc, old)
	},
}
