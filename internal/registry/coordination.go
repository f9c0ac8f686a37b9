package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/coordination/lease/strategy.go (Apache-2.0).

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/apis/coordination"
	coordinationvalidation "k8s.io/kubernetes/pkg/apis/coordination/validation"
	"k8s.io/kubernetes/pkg/features"
)

var leaseRules = rules[*coordinationv1.Lease, *coordination.Lease]{
	prepareCreate: func(ctx context.Context, lease *coordination.Lease) {
		if !utilfeature.DefaultFeatureGate.Enabled(features.CoordinatedLeaderElection) {
			lease.Spec.Strategy = nil
			lease.Spec.PreferredHolder = nil
		}
	},
	prepareUpdate: func(ctx context.Context, lease, old *coordination.Lease) {
		if !utilfeature.DefaultFeatureGate.Enabled(features.CoordinatedLeaderElection) {
			if old.Spec.Strategy == nil {
				lease.Spec.Strategy = nil
			}
			if old.Spec.PreferredHolder == nil {
				lease.Spec.PreferredHolder = nil
			}
		}
	},
	validate: func(ctx context.Context, lease *coordination.Lease) field.ErrorList {
		return coordinationvalidation.ValidateLease(lease)
	},
	validateUpdate: func(ctx context.Context, lease, old *coordination.Lease) field.ErrorList {
		return coordinationvalidation.ValidateLeaseUpdate(lease, old)
	},
	allowCreateOnUpdate: true,
}
