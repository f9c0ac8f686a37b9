package admission

// Priority follows k8s.io/kubernetes/plugin/pkg/admission/priority (Apache-2.0).

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/kubernetes/pkg/apis/scheduling"
)

// Priority resolves a new pod's spec.priorityClassName to spec.priority and
// spec.preemptionPolicy (the cluster's globalDefault class when the pod names none) and refuses
// a second globalDefault PriorityClass.
type Priority struct {
	Objects Objects
}

var (
	_ Mutator   = (*Priority)(nil)
	_ Validator = (*Priority)(nil)
)

var (
	podsResource            = corev1.SchemeGroupVersion.WithResource("pods")
	priorityClassesResource = schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
)

func (p *Priority) Admit(ctx context.Context, a *Attributes) error {
	if a.Subresource != "" || a.Resource != podsResource {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	switch a.Operation {
	case Update:
		// Priority is immutable; an update that leaves it out keeps the stored one.
		old, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
		}
		if pod.Spec.Priority == nil {
			pod.Spec.Priority = old.Spec.Priority
		}
		if pod.Spec.PreemptionPolicy == nil {
			pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
		}
	case Create:
		return p.admitNewPod(ctx, a, pod)
	}
	return nil
}

func (p *Priority) admitNewPod(ctx context.Context, a *Attributes, pod *corev1.Pod) error {
	name, priority, policy, err := p.establish(ctx, a, pod.Spec.PriorityClassName)
	if err != nil {
		return err
	}
	pod.Spec.PriorityClassName = name
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return forbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	pod.Spec.Priority = &priority
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return forbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
		}
		pod.Spec.PreemptionPolicy = policy
	}
	return nil
}

// establish returns the class a pod naming className gets, its value and preemption policy.
func (p *Priority) establish(ctx context.Context, a *Attributes, className string) (string, int32, *corev1.PreemptionPolicy, error) {
	if className == "" {
		def, err := p.globalDefault(ctx)
		if err != nil {
			return "", 0, nil, fmt.Errorf("error occurred while retrieving default priority class: %w", err)
		}
		if def == nil {
			policy := corev1.PreemptLowerPriority
			return "", int32(scheduling.DefaultPriorityWhenNoDefaultClassExists), &policy, nil
		}
		return def.Name, def.Value, def.PreemptionPolicy, nil
	}
	obj, err := p.Objects.Get(ctx, priorityClassesResource, "", className)
	if apierrors.IsNotFound(err) {
		return "", 0, nil, forbidden(a, fmt.Errorf("no PriorityClass with name %v was found", className))
	}
	if err != nil {
		return "", 0, nil, fmt.Errorf("failed to resolve PriorityClass with name %s: %w", className, err)
	}
	pc := obj.(*schedulingv1.PriorityClass)
	return className, pc.Value, pc.PreemptionPolicy, nil
}

// globalDefault is the class marked globalDefault, or nil. Should a race have left two, the one
// with the lowest value wins, as in Kubernetes.
func (p *Priority) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	list, err := p.Objects.List(ctx, priorityClassesResource, "")
	if err != nil {
		return nil, err
	}
	var def *schedulingv1.PriorityClass
	for _, obj := range list {
		pc := obj.(*schedulingv1.PriorityClass)
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}

func (p *Priority) Validate(ctx context.Context, a *Attributes) error {
	if a.Subresource != "" || a.Resource != priorityClassesResource || (a.Operation != Create && a.Operation != Update) {
		return nil
	}
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind PriorityClass but was unable to be converted")
	}
	if !pc.GlobalDefault {
		return nil
	}
	def, err := p.globalDefault(ctx)
	if err != nil {
		return fmt.Errorf("failed to get default priority class: %v", err)
	}
	if def != nil && (a.Operation == Create || def.Name != pc.Name) {
		return forbidden(a, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.Name))
	}
	return nil
}
