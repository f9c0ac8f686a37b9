package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/networking/<kind>/strategy.go (Apache-2.0).

import (
	"context"
	"reflect"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/networking"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"
)

var networkPolicyRules = rules[*networkingv1.NetworkPolicy, *networking.NetworkPolicy]{
	prepareCreate: func(ctx context.Context, np *networking.NetworkPolicy) {
		np.Generation = 1
	},
	prepareUpdate: func(ctx context.Context, np, old *networking.NetworkPolicy) {
		if !reflect.DeepEqual(old.Spec, np.Spec) {
			np.Generation = old.Generation + 1
		}
	},
	validate: func(ctx context.Context, np *networking.NetworkPolicy) field.ErrorList {
		return networkingvalidation.ValidateNetworkPolicy(np, networkingvalidation.ValidationOptionsForNetworking(np, nil))
	},
	validateUpdate: func(ctx context.Context, np, old *networking.NetworkPolicy) field.ErrorList {
		return networkingvalidation.ValidateNetworkPolicyUpdate(np, old, networkingvalidation.ValidationOptionsForNetworking(np, old))
	},
}

var ingressRules = rules[*networkingv1.Ingress, *networking.Ingress]{
	prepareCreate: func(ctx context.Context, ing *networking.Ingress) {
		ing.Status = networking.IngressStatus{}
		ing.Generation = 1
	},
	prepareUpdate: func(ctx context.Context, ing, old *networking.Ingress) {
		ing.Status = old.Status
		if !apiequality.Semantic.DeepEqual(old.Spec, ing.Spec) {
			ing.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, ing, old *networking.Ingress) {
		ing.Spec = old.Spec
	},
	validate: func(ctx context.Context, ing *networking.Ingress) field.ErrorList {
		return networkingvalidation.ValidateIngressCreate(ing)
	},
	validateUpdate: func(ctx context.Context, ing, old *networking.Ingress) field.ErrorList {
		return networkingvalidation.ValidateIngressUpdate(ing, old)
	},
	validateStatusUpdate: func(ctx context.Context, ing, old *networking.Ingress) field.ErrorList {
		return networkingvalidation.ValidateIngressStatusUpdate(ing, old)
	},
}

var ingressClassRules = rules[*networkingv1.IngressClass, *networking.IngressClass]{
	prepareCreate: func(ctx context.Context, ic *networking.IngressClass) {
		ic.Generation = 1
	},
	prepareUpdate: func(ctx context.Context, ic, old *networking.IngressClass) {
		if !apiequality.Semantic.DeepEqual(old.Spec, ic.Spec) {
			ic.Generation = old.Generation + 1
		}
	},
	validate: func(ctx context.Context, ic *networking.IngressClass) field.ErrorList {
		return networkingvalidation.ValidateIngressClass(ic)
	},
	validateUpdate: func(ctx context.Context, ic, old *networking.IngressClass) field.ErrorList {
		return networkingvalidation.ValidateIngressClassUpdate(ic, old)
	},
}
