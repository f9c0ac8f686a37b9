package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// finalizerEstimateSeconds is how long objects held by finalizers are expected to take, as
// upstream.
const finalizerEstimateSeconds = 15

var podsResource = corev1.SchemeGroupVersion.WithResource("pods")

// apiResource is one namespaced resource the controller deletes.
type apiResource struct {
	gvr              schema.GroupVersionResource
	list             bool
	deleteCollection bool
}

// outcome is what deleting one resource's objects left behind.
type outcome struct {
	estimate   int64 // seconds the remaining objects are expected to take; 0: none expected
	remaining  int
	finalizers map[string]int // finalizer → remaining objects holding it
}

// deleteContent deletes everything in ns, pods first, and records the result in ns's status
// conditions. It returns how many seconds the remaining content is expected to take (0 when
// the namespace is empty) or an error when something failed or remains unexpectedly.
func (c *Controller) deleteContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	var errs []error
	var conds conditions
	lists, err := c.discover()
	if err != nil {
		// Some groups failing is no reason not to delete the others' content.
		errs = append(errs, err)
		conds.discoveryFailed(err)
	}
	resources, err := deletable(lists)
	if err != nil {
		errs = append(errs, err)
		conds.groupVersionParsingFailed(err)
	}

	var estimate int64
	totals := totals{resources: map[schema.GroupVersionResource]int{}, finalizers: map[string]int{}}
	deleteAll := func(r apiResource) {
		out, err := c.deleteResource(ctx, r, ns)
		if err != nil {
			errs = append(errs, err)
			conds.deleteFailed(err)
		}
		estimate = max(estimate, out.estimate)
		totals.add(r.gvr, out)
	}

	podsFirst := slices.IndexFunc(resources, func(r apiResource) bool { return r.gvr == podsResource })
	if podsFirst >= 0 {
		deleteAll(resources[podsFirst])
		resources = slices.Delete(resources, podsFirst, podsFirst+1)
	}
	// Other content waits until the pods that may use it are gone.
	if totals.resources[podsResource] == 0 {
		for _, r := range resources {
			deleteAll(r)
		}
	}
	conds.contentRemaining(totals)

	if conds.apply(&ns.Status) {
		if updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			c.log.Warn("update namespace conditions", "namespace", ns.Name, "err", err)
		} else {
			*ns = *updated
		}
	}
	return estimate, errors.Join(errs...)
}

// deletable lists the namespaced resources that can be deleted, sorted.
func deletable(lists []*metav1.APIResourceList) ([]apiResource, error) {
	var out []apiResource
	var errs []error
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range list.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			out = append(out, apiResource{
				gvr:              gv.WithResource(r.Name),
				list:             slices.Contains(r.Verbs, "list"),
				deleteCollection: slices.Contains(r.Verbs, "deletecollection"),
			})
		}
	}
	slices.SortFunc(out, func(a, b apiResource) int { return strings.Compare(a.gvr.String(), b.gvr.String()) })
	return out, errors.Join(errs...)
}

// deleteResource deletes every object of r in ns and reports what remains.
func (c *Controller) deleteResource(ctx context.Context, r apiResource, ns *corev1.Namespace) (outcome, error) {
	var estimate int64
	if r.gvr == podsResource {
		var err error
		if estimate, err = c.podsEstimate(ctx, ns); err != nil {
			return outcome{}, err
		}
	}
	// Background: no orphan finalizer may keep anything; the namespace goes whole.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	objects := c.metadata.Resource(r.gvr).Namespace(ns.Name)

	collected := false
	if r.deleteCollection {
		err := objects.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			collected = true
		case !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err):
			return outcome{estimate: estimate}, fmt.Errorf("delete %s in %s: %w", r.gvr, ns.Name, err)
		}
	}
	if !r.list {
		return outcome{estimate: estimate}, nil
	}
	if !collected {
		items, err := objects.List(ctx, metav1.ListOptions{})
		if err != nil {
			return outcome{estimate: estimate}, ignoreUnsupported(err)
		}
		for _, item := range items.Items {
			err := objects.Delete(ctx, item.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return outcome{estimate: estimate}, fmt.Errorf("delete %s %s/%s: %w", r.gvr, ns.Name, item.Name, err)
			}
		}
	}

	items, err := objects.List(ctx, metav1.ListOptions{})
	if err != nil {
		return outcome{estimate: estimate}, ignoreUnsupported(err)
	}
	if len(items.Items) == 0 {
		return outcome{}, nil
	}
	out := outcome{remaining: len(items.Items), finalizers: map[string]int{}}
	for _, item := range items.Items {
		for _, f := range item.Finalizers {
			out.finalizers[f]++
		}
	}
	switch {
	case estimate > 0:
		out.estimate = estimate
	case len(out.finalizers) > 0:
		out.estimate = finalizerEstimateSeconds
	default:
		return out, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, r.gvr)
	}
	return out, nil
}

// podsEstimate is the longest termination grace period of ns's running pods, or 0 once that
// long has passed since the namespace was deleted.
func (c *Controller) podsEstimate(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	pods, err := c.client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	var estimate int64
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if time.Since(ns.DeletionTimestamp.Time) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}

// ignoreUnsupported treats a resource that cannot be listed after all as empty.
func ignoreUnsupported(err error) error {
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
