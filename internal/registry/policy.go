package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/policy/poddisruptionbudget/strategy.go
// (Apache-2.0).

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/policy"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
)

var podDisruptionBudgetRules = rules[*policyv1.PodDisruptionBudget, *policy.PodDisruptionBudget]{
	prepareCreate: func(ctx context.Context, pdb *policy.PodDisruptionBudget) {
		pdb.Status = policy.PodDisruptionBudgetStatus{}
		pdb.Generation = 1
		stripPDBV1beta1Label(pdb, nil)
	},
	prepareUpdate: func(ctx context.Context, pdb, old *policy.PodDisruptionBudget) {
		pdb.Status = old.Status
		if !apiequality.Semantic.DeepEqual(old.Spec, pdb.Spec) {
			pdb.Generation = old.Generation + 1
		}
		stripPDBV1beta1Label(pdb, old)
	},
	prepareStatusUpdate: func(ctx context.Context, pdb, old *policy.PodDisruptionBudget) {
		pdb.Spec = old.Spec
	},
	validate: func(ctx context.Context, pdb *policy.PodDisruptionBudget) field.ErrorList {
		opts := policyvalidation.PodDisruptionBudgetValidationOptions{AllowInvalidLabelValueInSelector: false}
		return policyvalidation.ValidatePodDisruptionBudget(pdb, opts)
	},
	validateUpdate: func(ctx context.Context, pdb, old *policy.PodDisruptionBudget) field.ErrorList {
		opts := policyvalidation.PodDisruptionBudgetValidationOptions{AllowInvalidLabelValueInSelector: selectorHasInvalidLabelValue(old)}
		return policyvalidation.ValidatePodDisruptionBudget(pdb, opts)
	},
	validateStatusUpdate: func(ctx context.Context, pdb, old *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudgetStatusUpdate(pdb.Status, old.Status, field.NewPath("status"), policyv1.SchemeGroupVersion)
	},
}

// stripPDBV1beta1Label removes the marker label the policy/v1beta1 conversion adds to a
// selector, unless the selector is one of the two v1beta1 special cases or is unchanged.
func stripPDBV1beta1Label(pdb, old *policy.PodDisruptionBudget) {
	if old != nil && apiequality.Semantic.DeepEqual(old.Spec.Selector, pdb.Spec.Selector) {
		return
	}
	switch {
	case apiequality.Semantic.DeepEqual(pdb.Spec.Selector, policy.NonV1beta1MatchNoneSelector):
	case apiequality.Semantic.DeepEqual(pdb.Spec.Selector, policy.NonV1beta1MatchAllSelector):
	default:
		policy.StripPDBV1beta1Label(pdb.Spec.Selector)
	}
}

func selectorHasInvalidLabelValue(pdb *policy.PodDisruptionBudget) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	return len(metav1validation.ValidateLabelSelector(pdb.Spec.Selector, opts, nil)) > 0
}
