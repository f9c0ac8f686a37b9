package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/rbac/<kind>/strategy.go (Apache-2.0).
// Kubernetes also refuses, in its RBAC storage, a role or binding that grants more than the
// requester holds (escalation checks); that belongs to authorization, not here.

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/apis/rbac"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
)

var roleRules = rules[*rbacv1.Role, *rbac.Role]{
	validate: func(ctx context.Context, role *rbac.Role) field.ErrorList {
		return rbacvalidation.ValidateRole(role)
	},
	validateUpdate: func(ctx context.Context, role, old *rbac.Role) field.ErrorList {
		return rbacvalidation.ValidateRoleUpdate(role, old)
	},
	allowCreateOnUpdate: true,
	defaultTable:        true,
}

var clusterRoleRules = rules[*rbacv1.ClusterRole, *rbac.ClusterRole]{
	validate: func(ctx context.Context, role *rbac.ClusterRole) field.ErrorList {
		return rbacvalidation.ValidateClusterRole(role, rbacvalidation.ClusterRoleValidationOptions{AllowInvalidLabelValueInSelector: false})
	},
	validateUpdate: func(ctx context.Context, role, old *rbac.ClusterRole) field.ErrorList {
		opts := rbacvalidation.ClusterRoleValidationOptions{AllowInvalidLabelValueInSelector: aggregationHasInvalidLabelValue(old)}
		return rbacvalidation.ValidateClusterRoleUpdate(role, old, opts)
	},
	allowCreateOnUpdate: true,
	defaultTable:        true,
}

// aggregationHasInvalidLabelValue reports whether a stored cluster role aggregates with a
// selector today's validation rejects, which updates then tolerate.
func aggregationHasInvalidLabelValue(role *rbac.ClusterRole) bool {
	if role.AggregationRule == nil {
		return false
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		if len(metav1validation.ValidateLabelSelector(&role.AggregationRule.ClusterRoleSelectors[i], opts, nil)) > 0 {
			return true
		}
	}
	return false
}

// shortCircuitMismatch is what upstream declares for bindings, whose roleRef is immutable.
// It only affects how mismatches between handwritten and declarative errors are reported.
func shortCircuitMismatch[T any](T, T) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{ShortCircuitMismatch: true}
}

var roleBindingRules = rules[*rbacv1.RoleBinding, *rbac.RoleBinding]{
	validate: func(ctx context.Context, rb *rbac.RoleBinding) field.ErrorList {
		return rbacvalidation.ValidateRoleBinding(rb)
	},
	validateUpdate: func(ctx context.Context, rb, old *rbac.RoleBinding) field.ErrorList {
		return rbacvalidation.ValidateRoleBindingUpdate(rb, old)
	},
	declarative:         shortCircuitMismatch[*rbac.RoleBinding],
	allowCreateOnUpdate: true,
}

var clusterRoleBindingRules = rules[*rbacv1.ClusterRoleBinding, *rbac.ClusterRoleBinding]{
	validate: func(ctx context.Context, crb *rbac.ClusterRoleBinding) field.ErrorList {
		return rbacvalidation.ValidateClusterRoleBinding(crb)
	},
	validateUpdate: func(ctx context.Context, crb, old *rbac.ClusterRoleBinding) field.ErrorList {
		return rbacvalidation.ValidateClusterRoleBindingUpdate(crb, old)
	},
	declarative:         shortCircuitMismatch[*rbac.ClusterRoleBinding],
	allowCreateOnUpdate: true,
}
