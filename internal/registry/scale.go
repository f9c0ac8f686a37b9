package registry

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/autoscaling"
	autoscalingvalidation "k8s.io/kubernetes/pkg/apis/autoscaling/validation"
	"k8s.io/utils/ptr"
)

// scaleView is what the scale subresource reads of an object.
type scaleView struct {
	meta           *metav1.ObjectMeta
	specReplicas   *int32
	statusReplicas int32
	selector       func() (labels.Selector, error)
}

// newScaler builds the Scaler of a kind the way kube-apiserver's ScaleREST does for it: view
// reads the object, setReplicas writes spec.replicas. gr names the parent resource in errors.
func newScaler[T runtime.Object](gr schema.GroupResource, view func(T) scaleView, setReplicas func(T, int32)) *Scaler {
	get := func(obj runtime.Object) (T, *autoscalingv1.Scale, error) {
		t, ok := obj.(T)
		if !ok {
			return t, nil, fmt.Errorf("%s/scale: expected %T, got %T", gr, t, obj)
		}
		v := view(t)
		selector, err := v.selector()
		if err != nil {
			return t, nil, apierrors.NewInternalError(fmt.Errorf("%s/scale: %w", gr, err))
		}
		return t, &autoscalingv1.Scale{
			TypeMeta: metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "Scale"},
			ObjectMeta: metav1.ObjectMeta{
				Name:              v.meta.Name,
				Namespace:         v.meta.Namespace,
				UID:               v.meta.UID,
				ResourceVersion:   v.meta.ResourceVersion,
				CreationTimestamp: v.meta.CreationTimestamp,
			},
			Spec:   autoscalingv1.ScaleSpec{Replicas: ptr.Deref(v.specReplicas, 0)},
			Status: autoscalingv1.ScaleStatus{Replicas: v.statusReplicas, Selector: selector.String()},
		}, nil
	}
	return &Scaler{
		Get: func(obj runtime.Object) (*autoscalingv1.Scale, error) {
			_, scale, err := get(obj)
			return scale, err
		},
		// Set validates scale as upstream does (replicas >= 0, handwritten and declarative),
		// checks a UID precondition, then writes spec.replicas and the scale's resourceVersion
		// into obj so that the update that follows is conditional on it when the client sent one.
		Set: func(obj runtime.Object, scale *autoscalingv1.Scale) error {
			t, current, err := get(obj)
			if err != nil {
				return err
			}
			m := view(t).meta
			newScale, oldScale := &autoscaling.Scale{}, &autoscaling.Scale{}
			if err := legacyscheme.Scheme.Convert(scale, newScale, nil); err != nil {
				return apierrors.NewBadRequest(err.Error())
			}
			if err := legacyscheme.Scheme.Convert(current, oldScale, nil); err != nil {
				return apierrors.NewInternalError(err)
			}
			ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
				IsResourceRequest: true,
				APIPrefix:         "apis",
				APIGroup:          autoscalingv1.GroupName,
				APIVersion:        "v1",
				Resource:          gr.Resource,
				Subresource:       "scale",
				Namespace:         m.Namespace,
				Name:              m.Name,
			})
			if errs := autoscalingvalidation.ValidateScaleUpdate(ctx, newScale, oldScale, legacyscheme.Scheme, nil); len(errs) > 0 {
				return apierrors.NewInvalid(autoscaling.Kind("Scale"), m.Name, errs)
			}
			if scale.UID != "" && scale.UID != m.UID {
				return apierrors.NewConflict(schema.GroupResource{Group: gr.Group, Resource: gr.Resource + "/scale"}, m.Name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", scale.UID, m.UID))
			}
			setReplicas(t, scale.Spec.Replicas)
			m.ResourceVersion = scale.ResourceVersion
			return nil
		},
	}
}

func labelSelector(s *metav1.LabelSelector) func() (labels.Selector, error) {
	return func() (labels.Selector, error) { return metav1.LabelSelectorAsSelector(s) }
}

var deploymentScale = newScaler(schema.GroupResource{Group: appsv1.GroupName, Resource: "deployments"},
	func(d *appsv1.Deployment) scaleView {
		return scaleView{&d.ObjectMeta, d.Spec.Replicas, d.Status.Replicas, labelSelector(d.Spec.Selector)}
	},
	func(d *appsv1.Deployment, n int32) { d.Spec.Replicas = &n })

var replicaSetScale = newScaler(schema.GroupResource{Group: appsv1.GroupName, Resource: "replicasets"},
	func(rs *appsv1.ReplicaSet) scaleView {
		return scaleView{&rs.ObjectMeta, rs.Spec.Replicas, rs.Status.Replicas, labelSelector(rs.Spec.Selector)}
	},
	func(rs *appsv1.ReplicaSet, n int32) { rs.Spec.Replicas = &n })

var statefulSetScale = newScaler(schema.GroupResource{Group: appsv1.GroupName, Resource: "statefulsets"},
	func(ss *appsv1.StatefulSet) scaleView {
		return scaleView{&ss.ObjectMeta, ss.Spec.Replicas, ss.Status.Replicas, labelSelector(ss.Spec.Selector)}
	},
	func(ss *appsv1.StatefulSet, n int32) { ss.Spec.Replicas = &n })

var replicationControllerScale = newScaler(schema.GroupResource{Resource: "replicationcontrollers"},
	func(rc *corev1.ReplicationController) scaleView {
		return scaleView{&rc.ObjectMeta, rc.Spec.Replicas, rc.Status.Replicas, func() (labels.Selector, error) {
			return labels.SelectorFromSet(rc.Spec.Selector), nil
		}}
	},
	func(rc *corev1.ReplicationController, n int32) { rc.Spec.Replicas = &n })
