package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/internal/controller"
)

// burst caps the pods created or deleted in one reconcile, as upstream does.
const burst = 500

// manage creates or deletes pods so that rs has spec.replicas of them.
func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	want := int(1)
	if rs.Spec.Replicas != nil {
		want = int(*rs.Spec.Replicas)
	}
	diff := len(pods) - want
	switch {
	case diff < 0:
		n := min(-diff, burst)
		c.exp.Expect(key, n, nil)
		created, err := controller.SlowStart(n, func(int) error { return c.createPod(ctx, rs) })
		// Creates that were never made will never be observed.
		for range n - created {
			c.exp.Created(key)
		}
		if created > 0 {
			c.log.Debug("created pods", c.kind, key, "count", created)
		}
		return err
	case diff > 0:
		n := min(diff, burst)
		victims := append([]*corev1.Pod(nil), pods...)
		deletionOrder(victims)
		victims = victims[:n]
		uids := make([]string, len(victims))
		for i, p := range victims {
			uids[i] = string(p.UID)
		}
		c.exp.Expect(key, 0, uids)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uid := p.UID
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
				if err == nil {
					c.events.Eventf(c.sets.Object(rs), corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
					return
				}
				// Not deleted, so never observed as deleted.
				c.exp.Deleted(key, string(uid))
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					return
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
				mu.Unlock()
			}()
		}
		wg.Wait()
		c.log.Debug("deleted pods", c.kind, key, "count", n-len(errs))
		return errors.Join(errs...)
	}
	return nil
}

// createPod creates one pod from rs's template.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := newPod(rs, c.sets.Kind())
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		c.events.Eventf(c.sets.Object(rs), corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod for %s %s/%s: %w", c.kind, rs.Namespace, rs.Name, err)
	}
	c.events.Eventf(c.sets.Object(rs), corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

// newPod builds a pod from rs's template, controlled by rs (of kind gvk).
func newPod(rs *appsv1.ReplicaSet, gvk schema.GroupVersionKind) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, gvk)},
		},
		Spec: t.Spec,
	}
	return pod
}
