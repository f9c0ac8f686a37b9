package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/discovery/endpointslice/strategy.go
// (Apache-2.0).

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/discovery"
	discoveryvalidation "k8s.io/kubernetes/pkg/apis/discovery/validation"
	"k8s.io/kubernetes/pkg/features"
)

var endpointSliceRules = rules[*discoveryv1.EndpointSlice, *discovery.EndpointSlice]{
	prepareCreate: func(ctx context.Context, eps *discovery.EndpointSlice) {
		eps.Generation = 1
		if !utilfeature.DefaultFeatureGate.Enabled(features.PreferSameTrafficDistribution) {
			dropHintsForNodes(eps)
		}
		dropDeprecatedTopology(nil, eps)
	},
	prepareUpdate: func(ctx context.Context, eps, old *discovery.EndpointSlice) {
		// Any change but to metadata bumps the generation; so does a change of labels.
		newMeta, oldMeta := eps.ObjectMeta, old.ObjectMeta
		eps.ObjectMeta, old.ObjectMeta = metav1.ObjectMeta{}, metav1.ObjectMeta{}
		if !apiequality.Semantic.DeepEqual(eps, old) || !apiequality.Semantic.DeepEqual(newMeta.Labels, oldMeta.Labels) {
			newMeta.Generation = oldMeta.Generation + 1
		}
		eps.ObjectMeta, old.ObjectMeta = newMeta, oldMeta

		if !utilfeature.DefaultFeatureGate.Enabled(features.PreferSameTrafficDistribution) && !hintsForNodesInUse(old) {
			dropHintsForNodes(eps)
		}
		dropDeprecatedTopology(old, eps)
	},
	validate: func(ctx context.Context, eps *discovery.EndpointSlice) field.ErrorList {
		return discoveryvalidation.ValidateEndpointSliceCreate(eps)
	},
	validateUpdate: func(ctx context.Context, eps, old *discovery.EndpointSlice) field.ErrorList {
		return discoveryvalidation.ValidateEndpointSliceUpdate(eps, old)
	},
}

func hintsForNodesInUse(eps *discovery.EndpointSlice) bool {
	for _, ep := range eps.Endpoints {
		if ep.Hints != nil && ep.Hints.ForNodes != nil {
			return true
		}
	}
	return false
}

func dropHintsForNodes(eps *discovery.EndpointSlice) {
	for i := range eps.Endpoints {
		if eps.Endpoints[i].Hints != nil {
			eps.Endpoints[i].Hints.ForNodes = nil
		}
	}
}

// dropDeprecatedTopology drops the v1beta1 topology field, which discovery.k8s.io/v1 does not
// have, moving a hostname that named a node before into nodeName. Only v1 is served here.
func dropDeprecatedTopology(old, eps *discovery.EndpointSlice) {
	if old != nil && apiequality.Semantic.DeepEqual(old.Endpoints, eps.Endpoints) {
		return
	}
	var prevNodeNames sets.Set[string]
	if old != nil {
		prevNodeNames = sets.New[string]()
		for _, ep := range old.Endpoints {
			if name, ok := ep.DeprecatedTopology[corev1.LabelHostname]; ok && len(name) > 0 {
				prevNodeNames.Insert(name)
			}
		}
	}
	for i := range eps.Endpoints {
		ep := &eps.Endpoints[i]
		name, ok := ep.DeprecatedTopology[corev1.LabelHostname]
		if ep.NodeName == nil && ok && prevNodeNames.Has(name) && len(corevalidation.ValidateNodeName(name, false)) == 0 {
			ep.NodeName = &name
		}
		ep.DeprecatedTopology = nil
	}
}
