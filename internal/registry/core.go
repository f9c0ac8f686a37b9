package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/core/<kind>/strategy.go (Apache-2.0).
// Pods are in pod.go.

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	pvutil "k8s.io/kubernetes/pkg/api/persistentvolume"
	pvcutil "k8s.io/kubernetes/pkg/api/persistentvolumeclaim"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	serviceapi "k8s.io/kubernetes/pkg/api/service"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/core/helper"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/features"
	volumevalidation "k8s.io/kubernetes/pkg/volume/validation"
)

var namespaceRules = rules[*corev1.Namespace, *api.Namespace]{
	prepareCreate: func(ctx context.Context, ns *api.Namespace) {
		ns.Status = api.NamespaceStatus{Phase: api.NamespaceActive}
		if !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, api.FinalizerKubernetes)
		}
		labelNamespaceName(ns)
	},
	prepareUpdate: func(ctx context.Context, ns, old *api.Namespace) {
		ns.Spec.Finalizers = old.Spec.Finalizers
		ns.Status = old.Status
		labelNamespaceName(ns)
	},
	prepareStatusUpdate: func(ctx context.Context, ns, old *api.Namespace) {
		ns.Spec = old.Spec
		labelNamespaceName(ns)
	},
	validate: func(ctx context.Context, ns *api.Namespace) field.ErrorList {
		return corevalidation.ValidateNamespace(ns)
	},
	validateUpdate: func(ctx context.Context, ns, old *api.Namespace) field.ErrorList {
		errs := corevalidation.ValidateNamespace(ns)
		return append(errs, corevalidation.ValidateNamespaceUpdate(ns, old)...)
	},
	validateStatusUpdate: func(ctx context.Context, ns, old *api.Namespace) field.ErrorList {
		return corevalidation.ValidateNamespaceStatusUpdate(ns, old)
	},
	fields: func(ns *corev1.Namespace) fields.Set {
		return fields.Set{"status.phase": string(ns.Status.Phase)}
	},
}

// labelNamespaceName is upstream's namespace Canonicalize, which runs after validation there;
// here it runs in Prepare, skipped for a name that is no label value (validation rejects the
// name, and the label would add a second error).
func labelNamespaceName(ns *api.Namespace) {
	if len(utilvalidation.IsValidLabelValue(ns.Name)) != 0 {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

var serviceRules = rules[*corev1.Service, *api.Service]{
	prepareCreate: func(ctx context.Context, svc *api.Service) {
		svc.Status = api.ServiceStatus{}
	},
	prepareUpdate: func(ctx context.Context, svc, old *api.Service) {
		svc.Status = old.Status
		dropTypeDependentFields(svc, old)
	},
	prepareStatusUpdate: func(ctx context.Context, svc, old *api.Service) {
		svc.Spec = old.Spec
	},
	validate: func(ctx context.Context, svc *api.Service) field.ErrorList {
		return corevalidation.ValidateServiceCreate(svc)
	},
	validateUpdate: func(ctx context.Context, svc, old *api.Service) field.ErrorList {
		return corevalidation.ValidateServiceUpdate(svc, old)
	},
	validateStatusUpdate: func(ctx context.Context, svc, old *api.Service) field.ErrorList {
		return corevalidation.ValidateServiceStatusUpdate(svc, old)
	},
	fields: func(svc *corev1.Service) fields.Set {
		return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
	},
	allowCreateOnUpdate: true,
}

// dropTypeDependentFields clears, when a service changes type, the fields the old type
// needed and the new one forbids, if the client left them as they were.
func dropTypeDependentFields(svc, old *api.Service) {
	needsClusterIP := func(s *api.Service) bool { return s.Spec.Type != api.ServiceTypeExternalName }
	needsNodePort := func(s *api.Service) bool {
		return s.Spec.Type == api.ServiceTypeNodePort || s.Spec.Type == api.ServiceTypeLoadBalancer
	}
	needsHCNodePort := func(s *api.Service) bool {
		return s.Spec.Type == api.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == api.ServiceExternalTrafficPolicyLocal
	}
	isLoadBalancer := func(s *api.Service) bool { return s.Spec.Type == api.ServiceTypeLoadBalancer }

	if needsClusterIP(old) && !needsClusterIP(svc) {
		if old.Spec.ClusterIP == svc.Spec.ClusterIP && slices.Equal(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) {
			svc.Spec.ClusterIP = ""
			svc.Spec.ClusterIPs = nil
		}
		if reflect.DeepEqual(old.Spec.IPFamilies, svc.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if ipFamilyPolicy(old) == ipFamilyPolicy(svc) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePort(old) && !needsNodePort(svc) && nodePorts(old).IsSuperset(nodePorts(svc)) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHCNodePort(old) && !needsHCNodePort(svc) && old.Spec.HealthCheckNodePort == svc.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if isLoadBalancer(old) && !isLoadBalancer(svc) &&
		svc.Spec.AllocateLoadBalancerNodePorts != nil && old.Spec.AllocateLoadBalancerNodePorts != nil &&
		*old.Spec.AllocateLoadBalancerNodePorts == *svc.Spec.AllocateLoadBalancerNodePorts {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	if isLoadBalancer(old) && !isLoadBalancer(svc) && apiequality.Semantic.DeepEqual(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
		svc.Spec.LoadBalancerClass = nil
	}
	if serviceapi.ExternallyAccessible(old) && !serviceapi.ExternallyAccessible(svc) && old.Spec.ExternalTrafficPolicy == svc.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	// Only load balancers have a load balancer status.
	if svc.Spec.Type != api.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = api.LoadBalancerStatus{}
	}
}

func ipFamilyPolicy(svc *api.Service) string {
	if svc.Spec.IPFamilyPolicy == nil {
		return ""
	}
	return string(*svc.Spec.IPFamilyPolicy)
}

func nodePorts(svc *api.Service) sets.Set[int32] {
	ports := sets.New[int32]()
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			ports.Insert(p.NodePort)
		}
	}
	return ports
}

var endpointsRules = rules[*corev1.Endpoints, *api.Endpoints]{
	validate: func(ctx context.Context, ep *api.Endpoints) field.ErrorList {
		return corevalidation.ValidateEndpointsCreate(ep)
	},
	validateUpdate: func(ctx context.Context, ep, old *api.Endpoints) field.ErrorList {
		return corevalidation.ValidateEndpointsUpdate(ep, old)
	},
	allowCreateOnUpdate: true,
}

var configMapRules = rules[*corev1.ConfigMap, *api.ConfigMap]{
	validate: func(ctx context.Context, cm *api.ConfigMap) field.ErrorList {
		return corevalidation.ValidateConfigMap(cm)
	},
	validateUpdate: func(ctx context.Context, cm, old *api.ConfigMap) field.ErrorList {
		return corevalidation.ValidateConfigMapUpdate(cm, old)
	},
}

var secretRules = rules[*corev1.Secret, *api.Secret]{
	prepareUpdate: func(ctx context.Context, secret, old *api.Secret) {
		if len(secret.Type) == 0 {
			secret.Type = old.Type
		}
	},
	validate: func(ctx context.Context, secret *api.Secret) field.ErrorList {
		return corevalidation.ValidateSecret(secret)
	},
	validateUpdate: func(ctx context.Context, secret, old *api.Secret) field.ErrorList {
		return corevalidation.ValidateSecretUpdate(secret, old)
	},
	fields: func(secret *corev1.Secret) fields.Set {
		return fields.Set{"type": string(secret.Type)}
	},
}

var nodeRules = rules[*corev1.Node, *api.Node]{
	prepareCreate: func(ctx context.Context, node *api.Node) {
		dropDisabledNodeFields(node, nil)
	},
	prepareUpdate: func(ctx context.Context, node, old *api.Node) {
		node.Status = old.Status
		dropDisabledNodeFields(node, old)
	},
	prepareStatusUpdate: func(ctx context.Context, node, old *api.Node) {
		node.Spec = old.Spec
		if old.Status.Config == nil {
			node.Status.Config = nil
		}
		if !utilfeature.DefaultFeatureGate.Enabled(features.KubeletInUserNamespace) && old.Status.NodeInfo.RunningInUserNamespace == nil {
			node.Status.NodeInfo.RunningInUserNamespace = nil
		}
	},
	validate: func(ctx context.Context, node *api.Node) field.ErrorList {
		return corevalidation.ValidateNode(node)
	},
	validateUpdate: func(ctx context.Context, node, old *api.Node) field.ErrorList {
		errs := corevalidation.ValidateNode(node)
		return append(errs, corevalidation.ValidateNodeUpdate(node, old)...)
	},
	validateStatusUpdate: func(ctx context.Context, node, old *api.Node) field.ErrorList {
		return corevalidation.ValidateNodeUpdate(node, old)
	},
	declarative: func(node, old *api.Node) rest.DeclarativeValidationConfig {
		gate := features.InPlacePodVerticalScalingSchedulerPreemption
		return rest.DeclarativeValidationConfig{Options: map[string]bool{string(gate): utilfeature.DefaultFeatureGate.Enabled(gate)}}
	},
	fields: func(node *corev1.Node) fields.Set {
		return fields.Set{"spec.unschedulable": fmt.Sprint(node.Spec.Unschedulable)}
	},
}

func dropDisabledNodeFields(node, old *api.Node) {
	gate := utilfeature.DefaultFeatureGate.Enabled
	if old == nil {
		node.Spec.ConfigSource = nil
		node.Status.Config = nil
	}
	if old != nil && old.Spec.ConfigSource == nil {
		node.Spec.ConfigSource = nil
	}
	if !gate(features.RecursiveReadOnlyMounts) && !gate(features.UserNamespacesSupport) {
		node.Status.RuntimeHandlers = nil
	}
	if !gate(features.SupplementalGroupsPolicy) && (old == nil || old.Status.Features == nil) {
		node.Status.Features = nil
	}
	if !gate(features.NodeDeclaredFeatures) && (old == nil || old.Status.DeclaredFeatures == nil) {
		node.Status.DeclaredFeatures = nil
	}
	if !gate(features.InPlacePodVerticalScalingSchedulerPreemption) && (old == nil || old.Spec.PodPreemptionPolicy == nil) {
		node.Spec.PodPreemptionPolicy = nil
	}
}

var serviceAccountRules = rules[*corev1.ServiceAccount, *api.ServiceAccount]{
	prepareCreate: func(ctx context.Context, sa *api.ServiceAccount) {
		cleanSecretReferences(sa)
	},
	prepareUpdate: func(ctx context.Context, sa, old *api.ServiceAccount) {
		cleanSecretReferences(sa)
	},
	validate: func(ctx context.Context, sa *api.ServiceAccount) field.ErrorList {
		return corevalidation.ValidateServiceAccount(sa)
	},
	validateUpdate: func(ctx context.Context, sa, old *api.ServiceAccount) field.ErrorList {
		return corevalidation.ValidateServiceAccountUpdate(sa, old)
	},
}

// cleanSecretReferences keeps only the name of each secret reference.
func cleanSecretReferences(sa *api.ServiceAccount) {
	for i, secret := range sa.Secrets {
		sa.Secrets[i] = api.ObjectReference{Name: secret.Name}
	}
}

// now is the clock of the persistent volume phase transition times; tests replace it.
var now = metav1.Now

var persistentVolumeRules = rules[*corev1.PersistentVolume, *api.PersistentVolume]{
	prepareCreate: func(ctx context.Context, pv *api.PersistentVolume) {
		pv.Status = api.PersistentVolumeStatus{}
		pvutil.DropDisabledSpecFields(&pv.Spec, nil)
		pv.Status.Phase = api.VolumePending
		t := now()
		pv.Status.LastPhaseTransitionTime = &t
	},
	prepareUpdate: func(ctx context.Context, pv, old *api.PersistentVolume) {
		pv.Status = old.Status
		pvutil.DropDisabledSpecFields(&pv.Spec, &old.Spec)
	},
	prepareStatusUpdate: func(ctx context.Context, pv, old *api.PersistentVolume) {
		pv.Spec = old.Spec
		switch {
		case old.Status.Phase == pv.Status.Phase && pv.Status.LastPhaseTransitionTime == nil:
			// Same phase: keep the transition time.
			pv.Status.LastPhaseTransitionTime = old.Status.LastPhaseTransitionTime
		case old.Status.Phase != pv.Status.Phase &&
			(pv.Status.LastPhaseTransitionTime == nil || pv.Status.LastPhaseTransitionTime.Equal(old.Status.LastPhaseTransitionTime)):
			// New phase, and the client did not set a new transition time.
			t := now()
			pv.Status.LastPhaseTransitionTime = &t
		}
	},
	validate: func(ctx context.Context, pv *api.PersistentVolume) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolume(pv, nil)
		errs := corevalidation.ValidatePersistentVolume(pv, opts)
		return append(errs, volumevalidation.ValidatePersistentVolume(pv)...)
	},
	validateUpdate: func(ctx context.Context, pv, old *api.PersistentVolume) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolume(pv, old)
		errs := corevalidation.ValidatePersistentVolume(pv, opts)
		errs = append(errs, volumevalidation.ValidatePersistentVolume(pv)...)
		return append(errs, corevalidation.ValidatePersistentVolumeUpdate(pv, old, opts)...)
	},
	validateStatusUpdate: func(ctx context.Context, pv, old *api.PersistentVolume) field.ErrorList {
		return corevalidation.ValidatePersistentVolumeStatusUpdate(pv, old)
	},
}

var persistentVolumeClaimRules = rules[*corev1.PersistentVolumeClaim, *api.PersistentVolumeClaim]{
	prepareCreate: func(ctx context.Context, pvc *api.PersistentVolumeClaim) {
		pvc.Status = api.PersistentVolumeClaimStatus{}
		pvcutil.DropDisabledFields(&pvc.Spec, nil)
		pvcutil.EnforceDataSourceBackwardsCompatibility(&pvc.Spec, nil)
		pvcutil.NormalizeDataSources(&pvc.Spec)
	},
	prepareUpdate: func(ctx context.Context, pvc, old *api.PersistentVolumeClaim) {
		pvc.Status = old.Status
		pvcutil.DropDisabledFields(&pvc.Spec, &old.Spec)
		pvcutil.EnforceDataSourceBackwardsCompatibility(&pvc.Spec, &old.Spec)
		pvcutil.NormalizeDataSources(&pvc.Spec)
		pvcutil.NormalizeDataSources(&old.Spec)
	},
	prepareStatusUpdate: func(ctx context.Context, pvc, old *api.PersistentVolumeClaim) {
		pvc.Spec = old.Spec
		pvcutil.DropDisabledFieldsFromStatus(pvc, old)
	},
	validate: func(ctx context.Context, pvc *api.PersistentVolumeClaim) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, nil)
		return corevalidation.ValidatePersistentVolumeClaim(pvc, opts)
	},
	validateUpdate: func(ctx context.Context, pvc, old *api.PersistentVolumeClaim) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, old)
		return corevalidation.ValidatePersistentVolumeClaimUpdate(pvc, old, opts)
	},
	validateStatusUpdate: func(ctx context.Context, pvc, old *api.PersistentVolumeClaim) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, old)
		return corevalidation.ValidatePersistentVolumeClaimStatusUpdate(pvc, old, opts)
	},
}

var limitRangeRules = rules[*corev1.LimitRange, *api.LimitRange]{
	prepareCreate: func(ctx context.Context, lr *api.LimitRange) {
		if len(lr.Name) == 0 {
			lr.Name = string(uuid.NewUUID())
		}
	},
	validate: func(ctx context.Context, lr *api.LimitRange) field.ErrorList {
		return corevalidation.ValidateLimitRange(lr)
	},
	validateUpdate: func(ctx context.Context, lr, old *api.LimitRange) field.ErrorList {
		return corevalidation.ValidateLimitRange(lr)
	},
	allowCreateOnUpdate: true,
	defaultTable:        true,
}

var resourceQuotaRules = rules[*corev1.ResourceQuota, *api.ResourceQuota]{
	prepareCreate: func(ctx context.Context, rq *api.ResourceQuota) {
		rq.Status = api.ResourceQuotaStatus{}
	},
	prepareUpdate: func(ctx context.Context, rq, old *api.ResourceQuota) {
		rq.Status = old.Status
	},
	prepareStatusUpdate: func(ctx context.Context, rq, old *api.ResourceQuota) {
		rq.Spec = old.Spec
	},
	validate: func(ctx context.Context, rq *api.ResourceQuota) field.ErrorList {
		return corevalidation.ValidateResourceQuota(rq)
	},
	validateUpdate: func(ctx context.Context, rq, old *api.ResourceQuota) field.ErrorList {
		return corevalidation.ValidateResourceQuotaUpdate(rq, old)
	},
	validateStatusUpdate: func(ctx context.Context, rq, old *api.ResourceQuota) field.ErrorList {
		return corevalidation.ValidateResourceQuotaStatusUpdate(rq, old)
	},
}

var podTemplateRules = rules[*corev1.PodTemplate, *api.PodTemplate]{
	prepareCreate: func(ctx context.Context, pt *api.PodTemplate) {
		pt.Generation = 1
		podutil.DropDisabledTemplateFields(&pt.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, pt, old *api.PodTemplate) {
		podutil.DropDisabledTemplateFields(&pt.Template, &old.Template)
		if !apiequality.Semantic.DeepEqual(pt.Template, old.Template) {
			pt.Generation = old.Generation + 1
		}
	},
	validate: func(ctx context.Context, pt *api.PodTemplate) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&pt.Template, nil)
		return corevalidation.ValidatePodTemplate(pt, opts)
	},
	validateUpdate: func(ctx context.Context, pt, old *api.PodTemplate) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&pt.Template, &old.Template)
		return corevalidation.ValidatePodTemplateUpdate(pt, old, opts)
	},
}

var replicationControllerRules = rules[*corev1.ReplicationController, *api.ReplicationController]{
	prepareCreate: func(ctx context.Context, rc *api.ReplicationController) {
		rc.Status = api.ReplicationControllerStatus{}
		rc.Generation = 1
		podutil.DropDisabledTemplateFields(rc.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, rc, old *api.ReplicationController) {
		rc.Status = old.Status
		podutil.DropDisabledTemplateFields(rc.Spec.Template, old.Spec.Template)
		if !apiequality.Semantic.DeepEqual(old.Spec, rc.Spec) {
			rc.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, rc, old *api.ReplicationController) {
		rc.Spec = old.Spec
	},
	validate: func(ctx context.Context, rc *api.ReplicationController) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(rc.Spec.Template, nil)
		return corevalidation.ValidateReplicationController(rc, opts)
	},
	validateUpdate: func(ctx context.Context, rc, old *api.ReplicationController) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(rc.Spec.Template, old.Spec.Template)
		errs := corevalidation.ValidateReplicationControllerUpdate(rc, old, opts)
		// Fields extensions/v1beta1 could not express were kept in annotations.
		for key, value := range helper.NonConvertibleFields(old.Annotations) {
			parts := strings.Split(key, "/")
			if len(parts) != 2 {
				continue
			}
			brokenField := parts[1]
			switch {
			case strings.Contains(brokenField, "selector"):
				if !apiequality.Semantic.DeepEqual(old.Spec.Selector, rc.Spec.Selector) {
					errs = append(errs, field.Invalid(field.NewPath("spec").Child("selector"), rc.Spec.Selector, "cannot update non-convertible selector"))
				}
			default:
				errs = append(errs, &field.Error{Type: field.ErrorTypeNotFound, BadValue: value, Field: brokenField, Detail: "unknown non-convertible field"})
			}
		}
		return errs
	},
	validateStatusUpdate: func(ctx context.Context, rc, old *api.ReplicationController) field.ErrorList {
		return corevalidation.ValidateReplicationControllerStatusUpdate(rc, old)
	},
	fields: func(rc *corev1.ReplicationController) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(rc.Status.Replicas))}
	},
}
