package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

var (
	scaleGVK    = autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	bindingGVK  = corev1.SchemeGroupVersion.WithKind("Binding")
	evictionGVK = policyv1.SchemeGroupVersion.WithKind("Eviction")
	pdbGVK      = policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")
)

// scale answers GET, PUT and PATCH on the scale subresource.
func (s *Server) scale(w http.ResponseWriter, r *http.Request, q *request) {
	scaler := q.kind.Scale
	if q.info.Verb == "get" {
		obj, err := s.objects.get(r.Context(), q.kind, q.info.Namespace, q.info.Name)
		if err == nil {
			var sc *autoscalingv1.Scale
			if sc, err = scaler.Get(obj); err == nil {
				s.writeObject(w, q.out, http.StatusOK, sc, scaleGVK)
				return
			}
		}
		s.writeError(w, r, err)
		return
	}
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var warnings []string
	out, _, err := s.updateObject(r.Context(), q.kind, q.info.Namespace, q.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(q.kind.GroupVersionResource().GroupResource(), q.info.Name)
		}
		cur, err := scaler.Get(current)
		if err != nil {
			return nil, err
		}
		data := o.body
		media := mediaType(r)
		if q.info.Verb == "patch" {
			doc, err := s.toJSON(cur, scaleGVK)
			if err != nil {
				return nil, err
			}
			if data, err = applyPatch(types.PatchType(media), doc, o.body, &autoscalingv1.Scale{}); err != nil {
				return nil, err
			}
			media = runtime.ContentTypeJSON
		}
		want := &autoscalingv1.Scale{}
		if warnings, err = s.codecs.decode(data, media, scaleGVK, want, o.validation); err != nil {
			return nil, err
		}
		if want.Name != q.info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", want.Name, q.info.Name))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), want.Name, nil)
		}
		obj := current.DeepCopyObject()
		if err := scaler.Set(obj, want); err != nil {
			return nil, err
		}
		if rv := want.ResourceVersion; rv != "" && rv != cur.ResourceVersion {
			return obj, setResourceVersion(obj, rv)
		}
		return obj, setResourceVersion(obj, "")
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc, err := scaler.Get(out)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	s.writeObject(w, q.out, http.StatusOK, sc, scaleGVK)
}

func setResourceVersion(obj runtime.Object, rv string) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(rv)
	return nil
}

// bind answers POST pods/{name}/binding: the scheduler's way of assigning a pod to a node.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := &corev1.Binding{}
	if _, err := s.codecs.decode(o.body, mediaType(r), bindingGVK, b, validationIgnore); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Name != q.info.Name {
		s.writeError(w, r, apierrors.NewBadRequest("name in URL does not match name in Binding object"))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		s.writeError(w, r, apierrors.NewBadRequest("binding target must be a Node"))
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, r, apierrors.NewBadRequest("binding target must name a node"))
		return
	}
	if err := s.bindPod(r.Context(), q, b, o.dryRun); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, q.out, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, statusGVK)
}

var bindingResource = corev1.SchemeGroupVersion.WithResource("pods/binding").GroupResource()

// bindPod writes the binding straight into the stored pod, as Kubernetes' binding storage does:
// the pod strategy would refuse a change of spec.nodeName.
func (s *Server) bindPod(ctx context.Context, q *request, b *corev1.Binding, dryRun bool) error {
	for {
		obj, err := s.objects.get(ctx, q.kind, q.info.Namespace, q.info.Name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		switch {
		case pod.DeletionTimestamp != nil:
			return apierrors.NewConflict(bindingResource, pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		case b.UID != "" && b.UID != pod.UID:
			return apierrors.NewConflict(bindingResource, pod.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		case b.ResourceVersion != "" && b.ResourceVersion != pod.ResourceVersion:
			return apierrors.NewConflict(bindingResource, pod.Name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", b.ResourceVersion, pod.ResourceVersion))
		case pod.Spec.NodeName != "":
			return apierrors.NewConflict(bindingResource, pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now().Rfc3339Copy()})
		if dryRun {
			return nil
		}
		err = s.objects.update(ctx, q.kind, pod, revisionOf(obj))
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// evict answers POST pods/{name}/eviction: a delete that respects PodDisruptionBudgets.
func (s *Server) evict(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := &policyv1.Eviction{}
	if _, err := s.codecs.decode(o.body, mediaType(r), evictionGVK, ev, validationIgnore); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ev.Name != q.info.Name {
		s.writeError(w, r, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	obj, err := s.objects.get(r.Context(), q.kind, q.info.Namespace, q.info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	// A pod that is not running disrupts nothing: it goes without consulting budgets.
	if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil {
		if err := s.takeDisruption(r, pod); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && !o.dryRun {
		if err := s.markEvicted(r.Context(), q.kind, pod); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, _, err := s.deleteObject(r.Context(), q.kind, pod.Namespace, pod.Name, opts, o); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, q.out, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, statusGVK)
}

// markEvicted records on pod, before it is deleted, that the Eviction API is why: the
// DisruptionTarget condition its controller (a Job's podFailurePolicy, say) reads. A pod
// already marked keeps its more specific reason (the scheduler's preemption evicts through
// this API after marking its victims).
func (s *Server) markEvicted(ctx context.Context, kind *registry.Kind, pod *corev1.Pod) error {
	if slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue
	}) {
		return nil
	}
	o := writeOptions{subresource: "status", user: systemUser, manager: "kube-apiserver"}
	_, _, err := s.updateObject(ctx, kind, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod).DeepCopy()
		cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
			Message: "Eviction API: evicting", LastTransitionTime: metav1.Now().Rfc3339Copy()}
		p.Status.Conditions = slices.DeleteFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.DisruptionTarget })
		p.Status.Conditions = append(p.Status.Conditions, cond)
		return p, nil
	}, o)
	return err
}

// takeDisruption checks the budget that covers pod and, if it allows one more disruption,
// records it in its status so that concurrent evictions cannot overrun it. As in
// kube-apiserver, a pod may have at most one budget, and an unready pod may go without taking
// a disruption when its budget's unhealthyPodEvictionPolicy allows it.
func (s *Server) takeDisruption(r *http.Request, pod *corev1.Pod) error {
	kind := s.kinds.byGVK[pdbGVK]
	res, err := s.objects.store.List(r.Context(), prefix(kind, pod.Namespace), storage.ListOptions{})
	if err != nil {
		return err
	}
	var pdb *policyv1.PodDisruptionBudget
	var rev int64
	for _, kv := range res.Items {
		obj, err := s.objects.decode(kind, kv.Value, kv.ModRevision)
		if err != nil {
			return err
		}
		candidate := obj.(*policyv1.PodDisruptionBudget)
		// In policy/v1 an empty selector covers every pod of the namespace.
		sel, err := metav1.LabelSelectorAsSelector(candidate.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if pdb != nil {
			return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
				Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."}}
		}
		pdb, rev = candidate, kv.ModRevision
	}
	if pdb == nil {
		return nil
	}
	if !podutil.IsPodReady(pod) {
		// An unready pod does not count as healthy: deleting it disrupts nothing the budget
		// protects, unless the budget is already short (the default IfHealthyBudget policy).
		if pdb.Spec.UnhealthyPodEvictionPolicy != nil && *pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow {
			return nil
		}
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return nil
		}
	}
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed <= 0 {
		return tooManyRequests(0, refusal(pdb))
	}
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		pdbhelper.UpdateDisruptionAllowedCondition(pdb)
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[pod.Name] = metav1.Now().Rfc3339Copy()
	if err := s.objects.update(r.Context(), kind, pdb, rev); err != nil {
		if apierrors.IsConflict(err) {
			return apierrors.NewTooManyRequests("the disruption budget changed while the eviction was checked; retry", 1)
		}
		return err
	}
	return nil
}

// refusal explains, as kube-apiserver does, why pdb allows no disruption now.
func refusal(pdb *policyv1.PodDisruptionBudget) string {
	cond := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	failed := cond != nil && cond.Status == metav1.ConditionFalse && cond.Message != ""
	switch {
	// A failed sync makes the counts untrustworthy, so it is named first.
	case failed && cond.Reason == policyv1.SyncFailedReason:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently because it failed sync: %s", pdb.Name, cond.Message)
	case pdb.Status.CurrentHealthy <= pdb.Status.DesiredHealthy:
		return fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name,
			pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)
	case failed:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently (%s): %s", pdb.Name, cond.Reason, cond.Message)
	}
	return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently", pdb.Name)
}

func tooManyRequests(retryAfter int, cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", retryAfter)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: cause,
	})
	return err
}

// finalize answers PUT namespaces/{name}/finalize: the namespace controller's way of clearing
// spec.finalizers once a namespace is empty. The namespace goes when the last one does.
func (s *Server) finalize(w http.ResponseWriter, r *http.Request, q *request) {
	o, err := q.writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, warnings, err := s.decodeObject(r, q, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	want := obj.(*corev1.Namespace)
	out, _, err := s.updateObject(r.Context(), q.kind, "", q.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(q.kind.GroupVersionResource().GroupResource(), q.info.Name)
		}
		ns := current.DeepCopyObject().(*corev1.Namespace)
		ns.Spec.Finalizers = want.Spec.Finalizers
		if want.ResourceVersion == ns.ResourceVersion {
			ns.ResourceVersion = ""
		} else {
			ns.ResourceVersion = want.ResourceVersion
		}
		return ns, nil
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	s.writeObject(w, q.out, http.StatusOK, out, q.kind.GroupVersionKind)
}
