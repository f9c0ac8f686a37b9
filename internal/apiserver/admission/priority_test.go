package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func class(name string, value int32, globalDefault bool) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
}

func priorityPlugin(classes ...*schedulingv1.PriorityClass) *Priority {
	var objs []runtime.Object
	for _, c := range classes {
		objs = append(objs, c)
	}
	return &Priority{Objects: newFakeObjects(map[schema.GroupVersionResource][]runtime.Object{priorityClassesResource: objs})}
}

func TestPriorityResolvesClass(t *testing.T) {
	ctx := context.Background()
	never := corev1.PreemptNever
	low := class("low", 10, false)
	low.PreemptionPolicy = &never
	p := priorityPlugin(low, class("system-node-critical", 2000001000, false))

	pod := newPod("ns", "a", func(p *corev1.Pod) { p.Spec.PriorityClassName = "low" })
	if err := admit(ctx, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if *pod.Spec.Priority != 10 || *pod.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("priority %d policy %s, want 10 Never", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
	}

	pod = newPod("ns", "b")
	if err := admit(ctx, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.PriorityClassName != "" || *pod.Spec.Priority != 0 || *pod.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("without a default class: class %q priority %d policy %s, want \"\" 0 PreemptLowerPriority", pod.Spec.PriorityClassName, *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
	}

	err := admit(ctx, p, podCreate(newPod("ns", "c", func(p *corev1.Pod) { p.Spec.PriorityClassName = "nope" })))
	wantForbidden(t, err, `pods "c" is forbidden: no PriorityClass with name nope was found`)

	err = admit(ctx, p, podCreate(newPod("ns", "d", func(p *corev1.Pod) {
		p.Spec.PriorityClassName = "low"
		p.Spec.Priority = ptr.To[int32](11)
	})))
	wantForbidden(t, err, `pods "d" is forbidden: the integer value of priority (11) must not be provided in pod spec; priority admission controller computed 10 from the given PriorityClass name`)

	lower := corev1.PreemptLowerPriority
	err = admit(ctx, p, podCreate(newPod("ns", "e", func(p *corev1.Pod) {
		p.Spec.PriorityClassName = "low"
		p.Spec.PreemptionPolicy = &lower
	})))
	wantForbidden(t, err, `pods "e" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name`)
}

func TestPriorityGlobalDefault(t *testing.T) {
	ctx := context.Background()
	// Two defaults (a race): the lower value wins.
	p := priorityPlugin(class("a", 50, true), class("b", 20, true))
	pod := newPod("ns", "x")
	if err := admit(ctx, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.PriorityClassName != "b" || *pod.Spec.Priority != 20 {
		t.Errorf("class %q priority %d, want b 20", pod.Spec.PriorityClassName, *pod.Spec.Priority)
	}

	a := &Attributes{Operation: Create, Resource: priorityClassesResource, Name: "c", Object: class("c", 1, true)}
	wantForbidden(t, validate(ctx, p, a), `priorityclasses.scheduling.k8s.io "c" is forbidden: PriorityClass b is already marked as default. Only one default can exist`)
	// Updating the default itself is fine; a non-default class is never refused.
	a = &Attributes{Operation: Update, Resource: priorityClassesResource, Name: "b", Object: class("b", 20, true), OldObject: class("b", 20, true)}
	if err := validate(ctx, p, a); err != nil {
		t.Errorf("update of the default class: %v", err)
	}
	a = &Attributes{Operation: Create, Resource: priorityClassesResource, Name: "d", Object: class("d", 1, false)}
	if err := validate(ctx, p, a); err != nil {
		t.Errorf("create of a plain class: %v", err)
	}
}

func TestPriorityKeptOnUpdate(t *testing.T) {
	old := newPod("ns", "a", func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](5) })
	pod := newPod("ns", "a")
	a := &Attributes{Operation: Update, Resource: podsResource, Namespace: "ns", Name: "a", Object: pod, OldObject: old}
	if err := admit(context.Background(), priorityPlugin(), a); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 5 {
		t.Errorf("priority %v after an update that left it out, want 5", pod.Spec.Priority)
	}
}
