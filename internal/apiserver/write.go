package apiserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/gantryhq/gantry/internal/apiserver/admission"
	"github.com/gantryhq/gantry/internal/registry"
)

// writeOptions are what a client may say about any write.
type writeOptions struct {
	dryRun      bool
	subresource string
	user        userInfo
	// manager is the field manager the write is recorded under; apply marks a server-side
	// apply, whose field ownership the apply itself records.
	manager string
	apply   bool
	// validation and body are the request's fieldValidation and body.
	validation fieldValidation
	body       []byte
}

type userInfo struct {
	name   string
	groups []string
}

func (s *Server) attributes(op admission.Operation, kind *registry.Kind, obj, old runtime.Object, ns, name string, o writeOptions) *admission.Attributes {
	return &admission.Attributes{
		Operation: op, Kind: kind.GroupVersionKind, Resource: kind.GroupVersionResource(),
		Subresource: o.subresource, Namespace: ns, Name: name, Object: obj, OldObject: old,
		UserName: o.user.name, Groups: o.user.groups, DryRun: o.dryRun,
	}
}

// createObject runs obj through defaults, admission, the kind's strategy and validation, and
// stores it unless this is a dry run. obj's namespace must already be set.
func (s *Server) createObject(ctx context.Context, kind *registry.Kind, obj runtime.Object, o writeOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if m.GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	kind.Strategy.Default(obj)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(generateName(m.GetGenerateName()))
	}
	a := s.attributes(admission.Create, kind, obj, nil, m.GetNamespace(), m.GetName(), o)
	if err := s.admission.Admit(ctx, a); err != nil {
		return nil, err
	}
	obj = s.fields.track(kind, o, newLive(kind, m.GetNamespace(), m.GetName()), obj)
	if m, err = meta.Accessor(obj); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	a.Object = obj
	// The UID comes first: some kinds derive fields from it (a Job's generated selector).
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now().Rfc3339Copy())
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	// Some kinds record their creator (a CertificateSigningRequest's spec.username).
	ctx = genericapirequest.WithUser(ctx, &user.DefaultInfo{Name: o.user.name, Groups: o.user.groups})
	kind.Strategy.PrepareForCreate(ctx, obj)
	// Allocation comes first, as in kube-apiserver: validation checks the allocated values.
	release, err := s.allocate(ctx, kind, obj, nil, o.dryRun)
	if err != nil {
		return nil, err
	}
	if err := s.validateCreate(ctx, kind, obj, a); err != nil {
		release()
		return nil, err
	}
	if o.dryRun {
		release()
		return obj, nil
	}
	if err := s.objects.create(ctx, kind, obj); err != nil {
		release()
		return nil, err
	}
	return obj, nil
}

func (s *Server) validateCreate(ctx context.Context, kind *registry.Kind, obj runtime.Object, a *admission.Attributes) error {
	if errs := kind.Strategy.Validate(ctx, obj); len(errs) > 0 {
		return apierrors.NewInvalid(kind.GroupVersionKind.GroupKind(), a.Name, errs)
	}
	return s.admission.Validate(ctx, a)
}

// generateName appends five random characters to base, as kube-apiserver does.
func generateName(base string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	suffix := make([]byte, 5)
	for i := range suffix {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		suffix[i] = alphabet[n.Int64()]
	}
	return base + string(suffix)
}

// mutateFunc computes the desired object from the stored one (nil if there is none). It must
// return a fresh object each call: an update may be retried.
type mutateFunc func(current runtime.Object) (runtime.Object, error)

// updateObject applies mutate to the stored object, runs the result through the strategy,
// validation and admission, and stores it. An object without resourceVersion is an
// unconditional update, retried on conflict; with one, a mismatch is a 409. It returns the
// object as stored and whether it was created.
func (s *Server) updateObject(ctx context.Context, kind *registry.Kind, ns, name string, mutate mutateFunc, o writeOptions) (runtime.Object, bool, error) {
	for {
		current, err := s.objects.get(ctx, kind, ns, name)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, false, err
		}
		var input runtime.Object
		if err == nil {
			input = current
		}
		obj, err := mutate(input)
		if err != nil {
			return nil, false, err
		}
		if input == nil {
			if !(kind.Strategy.AllowCreateOnUpdate() || o.apply) || o.subresource != "" {
				return nil, false, apierrors.NewNotFound(kind.GroupVersionResource().GroupResource(), name)
			}
			m, _ := meta.Accessor(obj)
			m.SetResourceVersion("")
			out, err := s.createObject(ctx, kind, obj, o)
			return out, err == nil, err
		}
		out, retry, err := s.tryUpdate(ctx, kind, current, obj, o)
		if retry {
			continue
		}
		return out, false, err
	}
}

func (s *Server) tryUpdate(ctx context.Context, kind *registry.Kind, current, obj runtime.Object, o writeOptions) (runtime.Object, bool, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	old, _ := meta.Accessor(current)
	gr := kind.GroupVersionResource().GroupResource()
	rv := m.GetResourceVersion()
	unconditional := rv == ""
	if !unconditional && rv != old.GetResourceVersion() {
		return nil, false, apierrors.NewConflict(gr, old.GetName(), fmt.Errorf("%s", errObjectModified))
	}
	m.SetResourceVersion(old.GetResourceVersion())

	// System fields belong to the server.
	if m.GetUID() == "" {
		m.SetUID(old.GetUID())
	}
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	m.SetGeneration(old.GetGeneration())
	if old.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > len(old.GetFinalizers()) {
		return nil, false, apierrors.NewForbidden(gr, old.GetName(), fmt.Errorf("no new finalizers can be added if the object is being deleted, found new finalizers %v", m.GetFinalizers()))
	}
	obj = s.fields.track(kind, o, current, obj)
	if m, err = meta.Accessor(obj); err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}

	kind.Strategy.Default(obj)
	switch o.subresource {
	case "status":
		kind.Strategy.PrepareForStatusUpdate(ctx, obj, current)
	case "approval":
		kind.Strategy.PrepareForApprovalUpdate(ctx, obj, current)
	case "finalize":
		// The caller changed nothing but a namespace's spec.finalizers.
	default:
		kind.Strategy.PrepareForUpdate(ctx, obj, current)
	}
	// An update never removes or moves a deletion timestamp, whatever the strategy cleared
	// (the pod status strategy clears it, as upstream's; kube-apiserver restores it here too).
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	a := s.attributes(admission.Update, kind, obj, current, old.GetNamespace(), old.GetName(), o)
	if err := s.admission.Admit(ctx, a); err != nil {
		return nil, false, err
	}
	release, err := s.allocate(ctx, kind, obj, current, o.dryRun)
	if err != nil {
		return nil, false, err
	}
	if err := s.validateUpdate(ctx, kind, obj, current, a); err != nil {
		release()
		return nil, false, err
	}

	// A write that changes nothing is not stored: the resourceVersion stays, and watchers
	// see no event.
	if equalStored(s.objects, kind, obj, current) {
		release()
		return current, false, nil
	}
	if o.dryRun {
		release()
		return obj, false, nil
	}
	// Removing the last finalizer of an object being deleted deletes it.
	if m.GetDeletionTimestamp() != nil && !hasFinalizers(obj) && !gracePending(obj) {
		out, err := s.objects.remove(ctx, kind, old.GetNamespace(), old.GetName(), revisionOf(current))
		if err != nil {
			release()
		}
		if apierrors.IsConflict(err) && unconditional {
			return nil, true, nil
		}
		if err == nil {
			s.releaseAll(ctx, kind, out)
		}
		return out, false, err
	}
	if err := s.objects.update(ctx, kind, obj, revisionOf(current)); err != nil {
		release()
		if apierrors.IsConflict(err) && unconditional {
			return nil, true, nil
		}
		return nil, false, err
	}
	s.releaseReplaced(ctx, kind, obj, current)
	return obj, false, nil
}

func (s *Server) validateUpdate(ctx context.Context, kind *registry.Kind, obj, current runtime.Object, a *admission.Attributes) error {
	var errs field.ErrorList
	switch a.Subresource {
	case "status":
		errs = kind.Strategy.ValidateStatusUpdate(ctx, obj, current)
	case "approval":
		errs = kind.Strategy.ValidateApprovalUpdate(ctx, obj, current)
	case "finalize":
		errs = kind.Strategy.Validate(ctx, obj)
	default:
		errs = kind.Strategy.ValidateUpdate(ctx, obj, current)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(kind.GroupVersionKind.GroupKind(), a.Name, errs)
	}
	return s.admission.Validate(ctx, a)
}

// gracePending reports whether obj is a pod whose graceful termination is still running: such a
// pod is removed by its node, not by the loss of its finalizers.
func gracePending(obj runtime.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	return ok && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0
}

// deleteObject deletes the named object as opts say: at once, or by marking it with a
// deletionTimestamp when finalizers or a pod's grace period must run first. It returns the
// object as deleted or marked, and whether it is gone.
func (s *Server) deleteObject(ctx context.Context, kind *registry.Kind, ns, name string, opts *metav1.DeleteOptions, o writeOptions) (runtime.Object, bool, error) {
	gr := kind.GroupVersionResource().GroupResource()
	for {
		current, err := s.objects.get(ctx, kind, ns, name)
		if err != nil {
			return nil, false, err
		}
		m, _ := meta.Accessor(current)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, false, apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		a := s.attributes(admission.Delete, kind, nil, current, ns, name, o)
		if err := s.admission.Validate(ctx, a); err != nil {
			return nil, false, err
		}

		obj := current.DeepCopyObject()
		marked, err := markForDeletion(obj, opts)
		if err != nil {
			return nil, false, err
		}
		if marked {
			if o.dryRun || equalStored(s.objects, kind, obj, current) {
				return obj, false, nil
			}
			if err := s.objects.update(ctx, kind, obj, revisionOf(current)); err != nil {
				if apierrors.IsConflict(err) {
					continue
				}
				return nil, false, err
			}
			return obj, false, nil
		}
		if o.dryRun {
			return current, true, nil
		}
		out, err := s.objects.remove(ctx, kind, ns, name, revisionOf(current))
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		s.releaseAll(ctx, kind, out)
		return out, true, nil
	}
}

// equalStored reports whether a and b are stored alike, so that writing one over the other
// would change nothing.
func equalStored(objs *objects, kind *registry.Kind, a, b runtime.Object) bool {
	da, err := objs.encode(kind, a)
	if err != nil {
		return false
	}
	db, err := objs.encode(kind, b)
	return err == nil && bytes.Equal(da, db)
}

// markForDeletion decides whether obj can go at once. If not, it sets the deletionTimestamp,
// the grace period and the finalizers the propagation policy asks for, and returns true.
func markForDeletion(obj runtime.Object, opts *metav1.DeleteOptions) (bool, error) {
	m, _ := meta.Accessor(obj)
	now := metav1.Now().Rfc3339Copy()

	grace := int64(0)
	if pod, ok := obj.(*corev1.Pod); ok {
		grace = podGracePeriod(pod, opts)
	}
	if m.GetDeletionTimestamp() != nil {
		// Already being deleted: only a shorter grace period changes anything.
		cur := m.GetDeletionGracePeriodSeconds()
		if cur == nil || grace >= *cur {
			return hasFinalizers(obj) || (cur != nil && *cur > 0), nil
		}
		if grace == 0 && !hasFinalizers(obj) {
			return false, nil
		}
		t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		m.SetDeletionTimestamp(&t)
		m.SetDeletionGracePeriodSeconds(&grace)
		return true, nil
	}

	finalizers := m.GetFinalizers()
	policy := propagationPolicy(opts)
	switch policy {
	case metav1.DeletePropagationForeground:
		finalizers = withFinalizer(finalizers, metav1.FinalizerDeleteDependents)
	case metav1.DeletePropagationOrphan:
		finalizers = withFinalizer(finalizers, metav1.FinalizerOrphanDependents)
	}
	m.SetFinalizers(finalizers)
	if !hasFinalizers(obj) && grace == 0 {
		return false, nil
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
	m.SetDeletionTimestamp(&t)
	m.SetDeletionGracePeriodSeconds(&grace)
	return true, nil
}

// hasFinalizers reports whether something must still run before obj may go: its finalizers,
// or for a namespace the finalizers in its spec that the namespace controller clears.
func hasFinalizers(obj runtime.Object) bool {
	m, _ := meta.Accessor(obj)
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return true
	}
	return len(m.GetFinalizers()) > 0
}

func propagationPolicy(opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil && *opts.OrphanDependents {
		return metav1.DeletePropagationOrphan
	}
	return metav1.DeletePropagationBackground
}

func withFinalizer(finalizers []string, f string) []string {
	for _, x := range finalizers {
		if x == f {
			return finalizers
		}
	}
	return append(finalizers, f)
}

// podGracePeriod is how long a pod gets to stop: what the client asked, else the pod's own
// terminationGracePeriodSeconds. A pod that never ran on a node, or has finished, goes at once.
func podGracePeriod(pod *corev1.Pod, opts *metav1.DeleteOptions) int64 {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		if *opts.GracePeriodSeconds < 0 {
			return 1
		}
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}
