package registry

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

func newDeployment(selector, template map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "1d1a4c52-0000-4000-8000-000000000001"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: template},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
}

// stored runs obj through create as the API server does and fails the test if it is invalid.
func stored[T runtime.Object](t *testing.T, k *Kind, obj T) T {
	t.Helper()
	k.Strategy.PrepareForCreate(context.Background(), obj)
	k.Strategy.Default(obj)
	if errs := k.Strategy.Validate(context.Background(), obj); len(errs) != 0 {
		t.Fatalf("invalid %s:\n%s", k.Resource, errorsString(errs))
	}
	m := accessor(obj)
	m.SetResourceVersion("10")
	m.SetCreationTimestamp(metav1.Now())
	return obj
}

func TestDeploymentValidate(t *testing.T) {
	app := map[string]string{"app": "web"}
	tests := []struct {
		name       string
		deployment *appsv1.Deployment
		field      string
		detail     string
	}{
		{name: "valid", deployment: newDeployment(app, app)},
		{
			name:       "selector does not match template",
			deployment: newDeployment(app, map[string]string{"app": "db"}),
			field:      "spec.template.metadata.labels",
			detail:     "`selector` does not match template `labels`",
		},
		{
			name:       "negative replicas",
			deployment: func() *appsv1.Deployment { d := newDeployment(app, app); d.Spec.Replicas = ptr.To[int32](-1); return d }(),
			field:      "spec.replicas",
			detail:     "must be greater than or equal to 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lookup(t, deploymentKind).Strategy
			s.PrepareForCreate(context.Background(), tt.deployment)
			errs := s.Validate(context.Background(), tt.deployment)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors:\n%s", errorsString(errs))
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tt.field || errs[0].Detail != tt.detail {
				t.Fatalf("got:\n%swant %s: %s", errorsString(errs), tt.field, tt.detail)
			}
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	k := lookup(t, deploymentKind)
	s := k.Strategy
	app := map[string]string{"app": "web"}
	old := stored(t, k, newDeployment(app, app))
	old.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 2}

	tests := []struct {
		name       string
		change     func(d *appsv1.Deployment)
		generation int64
		errField   string // the field of the one expected error
	}{
		{name: "label", change: func(d *appsv1.Deployment) { d.Labels = map[string]string{"team": "a"} }, generation: 1},
		{name: "status, ignored", change: func(d *appsv1.Deployment) { d.Status.Replicas = 0 }, generation: 1},
		{name: "replicas", change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, generation: 2},
		{name: "image", change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, generation: 2},
		{name: "annotation", change: func(d *appsv1.Deployment) { d.Annotations = map[string]string{"note": "x"} }, generation: 2},
		{
			name: "selector is immutable",
			change: func(d *appsv1.Deployment) {
				d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}
				d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
			},
			generation: 2,
			errField:   "spec.selector",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := old.DeepCopy()
			tt.change(d)
			s.PrepareForUpdate(context.Background(), d, old)
			errs := s.ValidateUpdate(context.Background(), d, old)
			switch {
			case tt.errField == "" && len(errs) != 0:
				t.Fatalf("unexpected errors:\n%s", errorsString(errs))
			case tt.errField != "" && (len(errs) != 1 || errs[0].Field != tt.errField || !strings.Contains(errs[0].Detail, "field is immutable")):
				t.Fatalf("got:\n%swant %s: field is immutable", errorsString(errs), tt.errField)
			}
			if d.Generation != tt.generation {
				t.Errorf("generation = %d, want %d", d.Generation, tt.generation)
			}
			if d.Status.Replicas != 3 || d.Status.ReadyReplicas != 2 {
				t.Errorf("status not kept: %+v", d.Status)
			}
		})
	}

	t.Run("status update keeps spec and labels", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Replicas = ptr.To[int32](9)
		d.Labels = map[string]string{"team": "b"}
		d.Status.ReadyReplicas = 3
		d.Status.AvailableReplicas = 3
		s.PrepareForStatusUpdate(context.Background(), d, old)
		if errs := s.ValidateStatusUpdate(context.Background(), d, old); len(errs) != 0 {
			t.Fatalf("ValidateStatusUpdate:\n%s", errorsString(errs))
		}
		if *d.Spec.Replicas != 3 || d.Labels != nil || d.Generation != 1 {
			t.Errorf("spec %v, labels %v, generation %d: want 3, none, 1", *d.Spec.Replicas, d.Labels, d.Generation)
		}
		if d.Status.ReadyReplicas != 3 || d.Status.AvailableReplicas != 3 {
			t.Errorf("status not written: %+v", d.Status)
		}
	})
}

func TestScale(t *testing.T) {
	app := map[string]string{"app": "web"}
	tests := []struct {
		name     string
		gvk      schema.GroupVersionKind
		obj      runtime.Object
		replicas func(runtime.Object) int32
	}{
		{"deployment", deploymentKind, newDeployment(app, app), func(o runtime.Object) int32 { return *o.(*appsv1.Deployment).Spec.Replicas }},
		{"replicaset", appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-rs"},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: app},
				Template: newDeployment(app, app).Spec.Template},
		}, func(o runtime.Object) int32 { return *o.(*appsv1.ReplicaSet).Spec.Replicas }},
		{"statefulset", appsv1.SchemeGroupVersion.WithKind("StatefulSet"), &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-sts"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: app},
				Template: newDeployment(app, app).Spec.Template},
		}, func(o runtime.Object) int32 { return *o.(*appsv1.StatefulSet).Spec.Replicas }},
		{"replicationcontroller", corev1.SchemeGroupVersion.WithKind("ReplicationController"), &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-rc"},
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: app,
				Template: &newDeployment(app, app).Spec.Template},
		}, func(o runtime.Object) int32 { return *o.(*corev1.ReplicationController).Spec.Replicas }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := lookup(t, tt.gvk)
			obj := stored(t, k, tt.obj)
			m := accessor(obj)

			scale, err := k.Scale.Get(obj)
			if err != nil {
				t.Fatal(err)
			}
			want := autoscalingv1.Scale{
				TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: m.GetUID(),
					ResourceVersion: "10", CreationTimestamp: m.GetCreationTimestamp()},
				Spec:   autoscalingv1.ScaleSpec{Replicas: 3},
				Status: autoscalingv1.ScaleStatus{Replicas: 0, Selector: "app=web"},
			}
			if scale.String() != want.String() {
				t.Errorf("Get =\n%v\nwant\n%v", scale, &want)
			}

			scale.Spec.Replicas = 5
			scale.ResourceVersion = "11"
			if err := k.Scale.Set(obj, scale); err != nil {
				t.Fatal(err)
			}
			if tt.replicas(obj) != 5 || m.GetResourceVersion() != "11" {
				t.Errorf("after Set: replicas %d, resourceVersion %q", tt.replicas(obj), m.GetResourceVersion())
			}

			scale.Spec.Replicas = -1
			err = k.Scale.Set(obj, scale)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas: Invalid value: -1: must be greater than or equal to 0") {
				t.Errorf("Set(-1) = %v, want Invalid on spec.replicas", err)
			}
			scale.Spec.Replicas, scale.UID = 4, "another"
			if err := k.Scale.Set(obj, scale); !apierrors.IsConflict(err) {
				t.Errorf("Set(other uid) = %v, want Conflict", err)
			}
			if tt.replicas(obj) != 5 {
				t.Errorf("a failed Set changed replicas to %d", tt.replicas(obj))
			}
		})
	}
}
