package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/core/pod/strategy.go (Apache-2.0),
// which cannot be imported without kube-apiserver's storage layer.

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/apiserver/pkg/warning"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/core/helper/qos"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/features"
)

var podRules = rules[*corev1.Pod, *api.Pod]{
	prepareCreate: func(ctx context.Context, pod *api.Pod) {
		pod.Generation = 1
		pod.Status = api.PodStatus{Phase: api.PodPending}
		podutil.DropDisabledPodFields(pod, nil)
		applySchedulingGatedCondition(pod)
		mutatePodAffinity(pod)
		mutateTopologySpreadConstraints(pod)
		applyAppArmorVersionSkew(ctx, pod)
		podutil.DefaultPodLevelResources(pod)
		pod.Status.QOSClass = qos.GetPodQOS(pod)
	},
	prepareUpdate: func(ctx context.Context, pod, old *api.Pod) {
		pod.Status = old.Status
		if utilfeature.DefaultFeatureGate.Enabled(features.PodLevelResourcesFixDefaulting) &&
			pod.Spec.Resources == nil && old.Spec.Resources != nil {
			// Keep pod-level resources a client unaware of them dropped.
			pod.Spec.Resources = old.Spec.Resources.DeepCopy()
		}
		podutil.DropDisabledPodFields(pod, old)
		updatePodGeneration(pod, old)
	},
	prepareStatusUpdate: func(ctx context.Context, pod, old *api.Pod) {
		pod.Spec = old.Spec
		pod.DeletionTimestamp = nil
		// Old kubelets corrupt owner references through pods/status.
		pod.OwnerReferences = old.OwnerReferences
		// The QoS class is set on create and immutable; old kubelets drop it.
		if pod.Status.QOSClass == "" {
			pod.Status.QOSClass = old.Status.QOSClass
		}
		// Keep DRA status a client unaware of it dropped; an empty non-nil slice still clears.
		if pod.Status.ResourceClaimStatuses == nil && old.Status.ResourceClaimStatuses != nil {
			pod.Status.ResourceClaimStatuses = old.Status.ResourceClaimStatuses
		}
		if pod.Status.ExtendedResourceClaimStatus == nil && old.Status.ExtendedResourceClaimStatus != nil {
			pod.Status.ExtendedResourceClaimStatus = old.Status.ExtendedResourceClaimStatus
		}
		if pod.Status.NodeAllocatableResourceClaimStatuses == nil && old.Status.NodeAllocatableResourceClaimStatuses != nil {
			pod.Status.NodeAllocatableResourceClaimStatuses = old.Status.NodeAllocatableResourceClaimStatuses
		}
		preserveOldObservedGeneration(pod, old)
		podutil.DropDisabledPodFields(pod, old)
	},
	validate: func(ctx context.Context, pod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, nil, &pod.ObjectMeta, nil)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodCreate(pod, opts)
	},
	validateUpdate: func(ctx context.Context, pod, old *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &old.Spec, &pod.ObjectMeta, &old.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodUpdate(pod, old, opts)
	},
	validateStatusUpdate: func(ctx context.Context, pod, old *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &old.Spec, &pod.ObjectMeta, &old.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodStatusUpdate(pod, old, opts)
	},
	fields: func(pod *corev1.Pod) fields.Set {
		podIP := pod.Status.PodIP
		if len(pod.Status.PodIPs) > 0 {
			podIP = pod.Status.PodIPs[0].IP
		}
		return fields.Set{
			"spec.nodeName":            pod.Spec.NodeName,
			"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
			"spec.schedulerName":       pod.Spec.SchedulerName,
			"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
			"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
			"status.phase":             string(pod.Status.Phase),
			"status.podIP":             podIP,
			"status.nominatedNodeName": pod.Status.NominatedNodeName,
		}
	},
}

// updatePodGeneration bumps metadata.generation when the spec changed.
func updatePodGeneration(pod, old *api.Pod) {
	if !apiequality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		pod.Generation++
	}
}

// preserveOldObservedGeneration keeps the observedGeneration of the status and of its
// conditions when a client clears them.
func preserveOldObservedGeneration(pod, old *api.Pod) {
	if pod.Status.ObservedGeneration == 0 {
		pod.Status.ObservedGeneration = old.Status.ObservedGeneration
	}
	// A list per type: validation allows several conditions of one type.
	oldGenerations := map[api.PodConditionType][]int64{}
	for _, c := range old.Status.Conditions {
		oldGenerations[c.Type] = append(oldGenerations[c.Type], c.ObservedGeneration)
	}
	for i, c := range pod.Status.Conditions {
		var oldGeneration int64
		if gens := oldGenerations[c.Type]; len(gens) > 0 {
			oldGeneration = gens[0]
			oldGenerations[c.Type] = gens[1:]
		}
		if c.ObservedGeneration == 0 {
			pod.Status.Conditions[i].ObservedGeneration = oldGeneration
		}
	}
}

// applySchedulingGatedCondition adds PodScheduled=False, reason SchedulingGated, to a new pod
// with scheduling gates.
func applySchedulingGatedCondition(pod *api.Pod) {
	if len(pod.Spec.SchedulingGates) == 0 {
		return
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == api.PodScheduled {
			return
		}
	}
	podutil.UpdatePodCondition(&pod.Status, &api.PodCondition{
		Type:    api.PodScheduled,
		Status:  api.ConditionFalse,
		Reason:  corev1.PodReasonSchedulingGated,
		Message: "Scheduling is blocked due to non-empty scheduling gates",
	})
}

// mutatePodAffinity merges matchLabelKeys and mismatchLabelKeys into the affinity terms'
// label selectors.
func mutatePodAffinity(pod *api.Pod) {
	if !utilfeature.DefaultFeatureGate.Enabled(features.MatchLabelKeysInPodAffinity) || pod.Spec.Affinity == nil {
		return
	}
	if a := pod.Spec.Affinity.PodAffinity; a != nil {
		applyLabelKeysToAffinityTerms(a.RequiredDuringSchedulingIgnoredDuringExecution, a.PreferredDuringSchedulingIgnoredDuringExecution, pod.Labels)
	}
	if a := pod.Spec.Affinity.PodAntiAffinity; a != nil {
		applyLabelKeysToAffinityTerms(a.RequiredDuringSchedulingIgnoredDuringExecution, a.PreferredDuringSchedulingIgnoredDuringExecution, pod.Labels)
	}
}

func applyLabelKeysToAffinityTerms(required []api.PodAffinityTerm, preferred []api.WeightedPodAffinityTerm, labels map[string]string) {
	for i := range preferred {
		applyMatchLabelKeysAndMismatchLabelKeys(&preferred[i].PodAffinityTerm, labels)
	}
	for i := range required {
		applyMatchLabelKeysAndMismatchLabelKeys(&required[i], labels)
	}
}

func applyMatchLabelKeysAndMismatchLabelKeys(term *api.PodAffinityTerm, labels map[string]string) {
	if (len(term.MatchLabelKeys) == 0 && len(term.MismatchLabelKeys) == 0) || term.LabelSelector == nil {
		// A nil selector matches nothing: there is nothing to narrow.
		return
	}
	applyLabelKeysToLabelSelector(term.LabelSelector, term.MatchLabelKeys, metav1.LabelSelectorOpIn, labels)
	applyLabelKeysToLabelSelector(term.LabelSelector, term.MismatchLabelKeys, metav1.LabelSelectorOpNotIn, labels)
}

func mutateTopologySpreadConstraints(pod *api.Pod) {
	if !utilfeature.DefaultFeatureGate.Enabled(features.MatchLabelKeysInPodTopologySpread) ||
		!utilfeature.DefaultFeatureGate.Enabled(features.MatchLabelKeysInPodTopologySpreadSelectorMerge) ||
		pod.Spec.TopologySpreadConstraints == nil {
		return
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if len(c.MatchLabelKeys) == 0 || c.LabelSelector == nil {
			continue
		}
		applyLabelKeysToLabelSelector(c.LabelSelector, c.MatchLabelKeys, metav1.LabelSelectorOpIn, pod.Labels)
	}
}

func applyLabelKeysToLabelSelector(selector *metav1.LabelSelector, keys []string, op metav1.LabelSelectorOperator, labels map[string]string) {
	for _, key := range keys {
		if value, ok := labels[key]; ok {
			selector.MatchExpressions = append(selector.MatchExpressions, metav1.LabelSelectorRequirement{
				Key:      key,
				Operator: op,
				Values:   []string{value},
			})
		}
	}
}

// applyAppArmorVersionSkew copies the deprecated AppArmor annotations into the fields, as
// described in KEP-24 "Version skew strategy".
func applyAppArmorVersionSkew(ctx context.Context, pod *api.Pod) {
	if pod.Spec.OS != nil && pod.Spec.OS.Name == api.Windows {
		return
	}
	var podProfile *api.AppArmorProfile
	if pod.Spec.SecurityContext != nil {
		podProfile = pod.Spec.SecurityContext.AppArmorProfile
	}
	podutil.VisitContainers(&pod.Spec, podutil.AllFeatureEnabledContainers(), func(ctr *api.Container, _ podutil.ContainerType) bool {
		key := api.DeprecatedAppArmorAnnotationKeyPrefix + ctr.Name
		annotation, hasAnnotation := pod.Annotations[key]
		var containerProfile *api.AppArmorProfile
		if ctr.SecurityContext != nil {
			containerProfile = ctr.SecurityContext.AppArmorProfile
		}
		if !hasAnnotation || containerProfile != nil {
			return true
		}
		newField := podutil.ApparmorFieldForAnnotation(annotation)
		if errs := corevalidation.ValidateAppArmorProfileField(newField, &field.Path{}); len(errs) > 0 {
			newField = nil // an invalid annotation is not copied
		}
		deprecationWarning := newField == nil
		if newField != nil && !apiequality.Semantic.DeepEqual(newField, podProfile) {
			if ctr.SecurityContext == nil {
				ctr.SecurityContext = &api.SecurityContext{}
			}
			ctr.SecurityContext.AppArmorProfile = newField
			deprecationWarning = true
		}
		if deprecationWarning {
			fldPath := field.NewPath("metadata", "annotations").Key(key)
			warning.AddWarning(ctx, "", fmt.Sprintf(`%s: deprecated since v1.30; use the "appArmorProfile" field instead`, fldPath))
		}
		return true
	})
}
