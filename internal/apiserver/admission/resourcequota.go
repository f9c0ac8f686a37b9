package admission

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/apiserver/pkg/authentication/user"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"

	gquota "github.com/gantryhq/gantry/internal/quota"
)

// ResourceQuota refuses writes that would take a namespace over one of its ResourceQuotas, and
// charges every admitted write to the quotas' status.used before the object is stored.
//
// The charge is an optimistic-concurrency update of each quota (a status update with the
// resourceVersion the check was made against), so two writes can never both spend the last
// unit, even on different API servers: the second one's update conflicts, and it re-reads the
// quota and checks again. Within one server, writes to the same namespace take turns, which
// saves most of those conflicts. What a write is charged and the messages it is refused with
// come from Kubernetes' own quota code (CheckRequest and the core evaluators). A charge whose
// write then fails stays counted until the resourcequota controller recomputes the usage from
// the stored objects, as in Kubernetes.
type ResourceQuota struct {
	objects  Objects
	registry quota.Registry

	mu         sync.Mutex
	namespaces map[string]*sync.Mutex
}

var _ Validator = (*ResourceQuota)(nil)

// chargeAttempts is how often a write re-reads and re-charges quotas whose update conflicted,
// as kube-apiserver does, before it gives up with the conflict.
const chargeAttempts = 4

var resourceQuotasResource = corev1.SchemeGroupVersion.WithResource("resourcequotas")

// NewResourceQuota returns the plugin over objs.
func NewResourceQuota(objs Objects) *ResourceQuota {
	return &ResourceQuota{objects: objs, registry: generic.NewRegistry(gquota.Evaluators(nil)), namespaces: map[string]*sync.Mutex{}}
}

func (q *ResourceQuota) Validate(ctx context.Context, a *Attributes) error {
	if a.Namespace == "" || (a.Operation != Create && a.Operation != Update) || gquota.Ignored[a.Resource.GroupResource()] {
		return nil
	}
	gr := a.Resource.GroupResource()
	evaluator := q.registry.Get(gr)
	if evaluator == nil {
		// Every other resource is counted as count/<resource>.<group>.
		evaluator = generic.NewObjectCountEvaluator(gr, nil, "")
		q.registry.Add(evaluator)
	}
	attrs := k8sadmission.NewAttributesRecord(a.Object, a.OldObject, a.Kind, a.Namespace, a.Name, a.Resource,
		a.Subresource, k8sadmission.Operation(a.Operation), nil, a.DryRun, &user.DefaultInfo{Name: a.UserName, Groups: a.Groups})
	if !evaluator.Handles(attrs) {
		return nil
	}
	quotas, err := q.quotas(ctx, a.Namespace, nil)
	if err != nil || len(quotas) == 0 {
		return err
	}
	unlock := q.lock(a.Namespace)
	defer unlock()
	// Read again under the lock: another write may have charged the quotas meanwhile.
	if quotas, err = q.quotas(ctx, a.Namespace, nil); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		charged, err := resourcequota.CheckRequest(quotas, attrs, evaluator, nil)
		if err != nil {
			return err
		}
		if a.DryRun {
			return nil
		}
		conflicted := map[string]bool{}
		var lastErr error
		for i := range charged {
			if quota.Equals(quotas[i].Status.Used, charged[i].Status.Used) {
				continue
			}
			if _, err := q.objects.UpdateStatus(ctx, resourceQuotasResource, &charged[i]); err != nil {
				if !apierrors.IsConflict(err) {
					return fmt.Errorf("charge quota %s: %w", charged[i].Name, err)
				}
				conflicted[charged[i].Name] = true
				lastErr = err
			}
		}
		if len(conflicted) == 0 {
			return nil
		}
		if attempt == chargeAttempts {
			return lastErr
		}
		// Quotas already charged stay charged; only the conflicted ones are checked again.
		if quotas, err = q.quotas(ctx, a.Namespace, conflicted); err != nil {
			return err
		}
	}
}

// quotas reads namespace's quotas, only those named in names unless names is nil.
func (q *ResourceQuota) quotas(ctx context.Context, namespace string, names map[string]bool) ([]corev1.ResourceQuota, error) {
	list, err := q.objects.List(ctx, resourceQuotasResource, namespace)
	if err != nil {
		return nil, fmt.Errorf("read quotas of namespace %s: %w", namespace, err)
	}
	out := make([]corev1.ResourceQuota, 0, len(list))
	for _, obj := range list {
		rq := obj.(*corev1.ResourceQuota)
		if names == nil || names[rq.Name] {
			out = append(out, *rq)
		}
	}
	return out, nil
}

// lock makes the writes of one namespace take turns on this server.
func (q *ResourceQuota) lock(namespace string) (unlock func()) {
	q.mu.Lock()
	m, ok := q.namespaces[namespace]
	if !ok {
		m = &sync.Mutex{}
		q.namespaces[namespace] = m
	}
	q.mu.Unlock()
	m.Lock()
	return m.Unlock
}
