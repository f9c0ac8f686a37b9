package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/apps/<kind>/strategy.go (Apache-2.0).

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/features"
)

var deploymentRules = rules[*appsv1.Deployment, *apps.Deployment]{
	prepareCreate: func(ctx context.Context, d *apps.Deployment) {
		d.Status = apps.DeploymentStatus{}
		d.Generation = 1
		podutil.DropDisabledTemplateFields(&d.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, d, old *apps.Deployment) {
		d.Status = old.Status
		podutil.DropDisabledTemplateFields(&d.Spec.Template, &old.Spec.Template)
		// Annotations count too: the controller copies them to the replica sets.
		if !apiequality.Semantic.DeepEqual(d.Spec, old.Spec) || !apiequality.Semantic.DeepEqual(d.Annotations, old.Annotations) {
			d.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, d, old *apps.Deployment) {
		d.Spec = old.Spec
		d.Labels = old.Labels
		dropTerminatingReplicas(&d.Status.TerminatingReplicas, old.Status.TerminatingReplicas)
	},
	validate: func(ctx context.Context, d *apps.Deployment) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&d.Spec.Template, nil)
		return appsvalidation.ValidateDeployment(d, opts)
	},
	validateUpdate: func(ctx context.Context, d, old *apps.Deployment) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&d.Spec.Template, &old.Spec.Template)
		return appsvalidation.ValidateDeploymentUpdate(d, old, opts)
	},
	validateStatusUpdate: func(ctx context.Context, d, old *apps.Deployment) field.ErrorList {
		return appsvalidation.ValidateDeploymentStatusUpdate(d, old)
	},
}

// dropTerminatingReplicas clears status.terminatingReplicas unless its feature is on or the
// object already had it.
func dropTerminatingReplicas(replicas **int32, old *int32) {
	if !utilfeature.DefaultFeatureGate.Enabled(features.DeploymentReplicaSetTerminatingReplicas) && old == nil {
		*replicas = nil
	}
}

var replicaSetRules = rules[*appsv1.ReplicaSet, *apps.ReplicaSet]{
	prepareCreate: func(ctx context.Context, rs *apps.ReplicaSet) {
		rs.Status = apps.ReplicaSetStatus{}
		rs.Generation = 1
		podutil.DropDisabledTemplateFields(&rs.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, rs, old *apps.ReplicaSet) {
		rs.Status = old.Status
		podutil.DropDisabledTemplateFields(&rs.Spec.Template, &old.Spec.Template)
		if !apiequality.Semantic.DeepEqual(old.Spec, rs.Spec) {
			rs.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, rs, old *apps.ReplicaSet) {
		rs.Spec = old.Spec
		dropTerminatingReplicas(&rs.Status.TerminatingReplicas, old.Status.TerminatingReplicas)
	},
	validate: func(ctx context.Context, rs *apps.ReplicaSet) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&rs.Spec.Template, nil)
		return appsvalidation.ValidateReplicaSet(rs, opts)
	},
	validateUpdate: func(ctx context.Context, rs, old *apps.ReplicaSet) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&rs.Spec.Template, &old.Spec.Template)
		return appsvalidation.ValidateReplicaSetUpdate(rs, old, opts)
	},
	validateStatusUpdate: func(ctx context.Context, rs, old *apps.ReplicaSet) field.ErrorList {
		return appsvalidation.ValidateReplicaSetStatusUpdate(rs, old)
	},
	fields: func(rs *appsv1.ReplicaSet) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
	},
}

var statefulSetRules = rules[*appsv1.StatefulSet, *apps.StatefulSet]{
	prepareCreate: func(ctx context.Context, ss *apps.StatefulSet) {
		ss.Status = apps.StatefulSetStatus{}
		ss.Generation = 1
		dropStatefulSetDisabledFields(ss, nil)
		podutil.DropDisabledTemplateFields(&ss.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, ss, old *apps.StatefulSet) {
		ss.Status = old.Status
		dropStatefulSetDisabledFields(ss, old)
		podutil.DropDisabledTemplateFields(&ss.Spec.Template, &old.Spec.Template)
		if !apiequality.Semantic.DeepEqual(old.Spec, ss.Spec) {
			ss.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, ss, old *apps.StatefulSet) {
		ss.Spec = old.Spec
	},
	validate: func(ctx context.Context, ss *apps.StatefulSet) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&ss.Spec.Template, nil)
		setOpts := appsvalidation.StatefulSetValidationOptions{
			AllowInvalidServiceName:          false, // new StatefulSets need a valid serviceName
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(features.StatefulSetRecreateStrategy),
		}
		return appsvalidation.ValidateStatefulSet(ss, setOpts, opts)
	},
	validateUpdate: func(ctx context.Context, ss, old *apps.StatefulSet) field.ErrorList {
		setOpts := appsvalidation.StatefulSetValidationOptions{
			AllowInvalidServiceName:          true, // immutable: tolerate a stored invalid name
			SkipValidateVolumeClaimTemplates: true, // immutable: tolerate stored invalid templates
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(features.StatefulSetRecreateStrategy) ||
				old.Spec.UpdateStrategy.Type == apps.RecreateStatefulSetStrategyType,
		}
		opts := podutil.GetValidationOptionsFromPodTemplate(&ss.Spec.Template, &old.Spec.Template)
		return appsvalidation.ValidateStatefulSetUpdate(ss, old, setOpts, opts)
	},
	validateStatusUpdate: func(ctx context.Context, ss, old *apps.StatefulSet) field.ErrorList {
		return appsvalidation.ValidateStatefulSetStatusUpdate(ss, old)
	},
}

func dropStatefulSetDisabledFields(ss, old *apps.StatefulSet) {
	maxUnavailableInUse := old != nil && old.Spec.UpdateStrategy.RollingUpdate != nil && old.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil
	if !utilfeature.DefaultFeatureGate.Enabled(features.MaxUnavailableStatefulSet) && !maxUnavailableInUse && ss.Spec.UpdateStrategy.RollingUpdate != nil {
		ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = nil
	}
}

var daemonSetRules = rules[*appsv1.DaemonSet, *apps.DaemonSet]{
	prepareCreate: func(ctx context.Context, ds *apps.DaemonSet) {
		ds.Status = apps.DaemonSetStatus{}
		ds.Generation = 1
		if ds.Spec.TemplateGeneration < 1 {
			ds.Spec.TemplateGeneration = 1
		}
		podutil.DropDisabledTemplateFields(&ds.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, ds, old *apps.DaemonSet) {
		podutil.DropDisabledTemplateFields(&ds.Spec.Template, &old.Spec.Template)
		ds.Status = old.Status
		// templateGeneration is the server's to manage: it counts template changes.
		ds.Spec.TemplateGeneration = old.Spec.TemplateGeneration
		if !apiequality.Semantic.DeepEqual(old.Spec.Template, ds.Spec.Template) {
			ds.Spec.TemplateGeneration = old.Spec.TemplateGeneration + 1
			ds.Generation = old.Generation + 1
			return
		}
		if !apiequality.Semantic.DeepEqual(old.Spec, ds.Spec) {
			ds.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, ds, old *apps.DaemonSet) {
		ds.Spec = old.Spec
	},
	validate: func(ctx context.Context, ds *apps.DaemonSet) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&ds.Spec.Template, nil)
		return appsvalidation.ValidateDaemonSet(ds, opts)
	},
	validateUpdate: func(ctx context.Context, ds, old *apps.DaemonSet) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&ds.Spec.Template, &old.Spec.Template)
		opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector || metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector)
		return appsvalidation.ValidateDaemonSetUpdate(ds, old, opts)
	},
	validateStatusUpdate: func(ctx context.Context, ds, old *apps.DaemonSet) field.ErrorList {
		return appsvalidation.ValidateDaemonSetStatusUpdate(ds, old)
	},
}

var controllerRevisionRules = rules[*appsv1.ControllerRevision, *apps.ControllerRevision]{
	validate: func(ctx context.Context, cr *apps.ControllerRevision) field.ErrorList {
		return appsvalidation.ValidateControllerRevisionCreate(cr)
	},
	validateUpdate: func(ctx context.Context, cr, old *apps.ControllerRevision) field.ErrorList {
		return appsvalidation.ValidateControllerRevisionUpdate(cr, old)
	},
}
