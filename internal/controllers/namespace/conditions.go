package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// The status conditions the controller maintains on a namespace being deleted, and what each
// says when all is well: upstream's (deletion/status_condition_utils.go).
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

var okConditions = map[corev1.NamespaceConditionType]struct{ reason, message string }{
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// totals is what remains in a namespace, per resource and per finalizer.
type totals struct {
	resources  map[schema.GroupVersionResource]int
	finalizers map[string]int
}

func (t totals) add(gvr schema.GroupVersionResource, o outcome) {
	if o.remaining == 0 {
		return
	}
	t.resources[gvr] += o.remaining
	for f, n := range o.finalizers {
		t.finalizers[f] += n
	}
}

// conditions collects the failing conditions of one pass; the others are set to their "ok"
// form by apply.
type conditions struct {
	failing      []corev1.NamespaceCondition
	deleteErrors []string
}

func (c *conditions) set(t corev1.NamespaceConditionType, reason, message string) {
	c.failing = append(c.failing, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message})
}

func (c *conditions) discoveryFailed(err error) {
	msg := err.Error()
	var derr *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &derr) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(derr.Groups), err)
	}
	c.set(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
}

func (c *conditions) groupVersionParsingFailed(err error) {
	c.set(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", err.Error())
}

func (c *conditions) deleteFailed(err error) { c.deleteErrors = append(c.deleteErrors, err.Error()) }

func (c *conditions) contentRemaining(t totals) {
	if len(t.resources) > 0 {
		var parts []string
		for gvr, n := range t.resources {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		sort.Strings(parts)
		c.set(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(t.finalizers) > 0 {
		var parts []string
		for f, n := range t.finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		c.set(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
}

// apply writes every maintained condition into status and reports whether anything changed.
// A condition's lastTransitionTime moves only when its status does.
func (c *conditions) apply(status *corev1.NamespaceStatus) bool {
	failing := c.failing
	if len(c.deleteErrors) > 0 {
		msgs := append([]string(nil), c.deleteErrors...)
		sort.Strings(msgs)
		failing = append(failing, corev1.NamespaceCondition{
			Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", ")),
		})
	}
	changed := false
	now := metav1.Now()
	for _, t := range conditionTypes {
		want := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okConditions[t].reason, Message: okConditions[t].message}
		for _, f := range failing {
			if f.Type == t {
				want = f
				break
			}
		}
		i := indexOf(status.Conditions, t)
		if i < 0 {
			want.LastTransitionTime = now
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		old := &status.Conditions[i]
		if old.Status == want.Status && old.Reason == want.Reason && old.Message == want.Message {
			continue
		}
		if old.Status != want.Status {
			old.LastTransitionTime = now
		}
		old.Status, old.Reason, old.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}

func indexOf(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}
