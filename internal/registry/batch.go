package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/batch/<kind>/strategy.go (Apache-2.0).

import (
	"context"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	jobutil "k8s.io/kubernetes/pkg/api/job"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/batch"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/utils/ptr"
)

// workloadWithJob is the declarative validation option both batch kinds declare.
func workloadWithJob[T any](T, T) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{Options: map[string]bool{
		string(features.WorkloadWithJob): utilfeature.DefaultFeatureGate.Enabled(features.WorkloadWithJob),
	}}
}

// jobRules need metadata.uid set before PrepareForCreate, as in kube-apiserver: a job without
// a manual selector gets a selector on its controller-uid label.
var jobRules = rules[*batchv1.Job, *batch.Job]{
	prepareCreate: func(ctx context.Context, job *batch.Job) {
		if job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector {
			generateJobSelector(job)
		}
		job.Status = batch.JobStatus{}
		job.Generation = 1
		if !utilfeature.DefaultFeatureGate.Enabled(features.JobManagedBy) {
			job.Spec.ManagedBy = nil
		}
		jobutil.DropDisabledFields(&job.Spec, nil)
		podutil.DropDisabledTemplateFields(&job.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, job, old *batch.Job) {
		job.Status = old.Status
		jobutil.DropDisabledFields(&job.Spec, &old.Spec)
		podutil.DropDisabledTemplateFields(&job.Spec.Template, &old.Spec.Template)
		if !apiequality.Semantic.DeepEqual(job.Spec, old.Spec) {
			job.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, job, old *batch.Job) {
		job.Spec = old.Spec
	},
	validate: func(ctx context.Context, job *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobCreate(job, jobValidationOptions(job, nil))
	},
	validateUpdate: func(ctx context.Context, job, old *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdate(job, old, jobValidationOptions(job, old))
	},
	validateStatusUpdate: func(ctx context.Context, job, old *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdateStatus(job, old, jobStatusValidationOptions(job, old))
	},
	declarative: workloadWithJob[*batch.Job],
	fields: func(job *batchv1.Job) fields.Set {
		return fields.Set{"status.successful": strconv.Itoa(int(job.Status.Succeeded))}
	},
}

// generateJobSelector labels the pod template with the job's name and uid and selects on the uid.
func generateJobSelector(job *batch.Job) {
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = make(map[string]string)
	}
	// Both the legacy and the prefixed labels, so that old and new tools find the pods.
	for _, key := range []string{batch.LegacyJobNameLabel, batch.JobNameLabel} {
		if _, found := job.Spec.Template.Labels[key]; !found {
			job.Spec.Template.Labels[key] = job.Name
		}
	}
	for _, key := range []string{batch.LegacyControllerUidLabel, batch.ControllerUidLabel} {
		if _, found := job.Spec.Template.Labels[key]; !found {
			job.Spec.Template.Labels[key] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = make(map[string]string)
	}
	if _, found := job.Spec.Selector.MatchLabels[batch.ControllerUidLabel]; !found {
		job.Spec.Selector.MatchLabels[batch.ControllerUidLabel] = string(job.UID)
	}
}

func jobValidationOptions(job, old *batch.Job) batchvalidation.JobValidationOptions {
	var template, oldTemplate *api.PodTemplateSpec
	if job != nil {
		template = &job.Spec.Template
	}
	if old != nil {
		oldTemplate = &old.Spec.Template
	}
	opts := batchvalidation.JobValidationOptions{
		PodValidationOptions:  podutil.GetValidationOptionsFromPodTemplate(template, oldTemplate),
		RequirePrefixedLabels: true,
	}
	if old == nil {
		return opts
	}
	opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector || metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector)
	suspended := old.Spec.Suspend != nil && *old.Spec.Suspend
	notStarted := old.Status.StartTime == nil
	opts.AllowMutableSchedulingDirectives = suspended && notStarted
	// A suspended job with no active pods, never started or suspended since, may change its template.
	mutableTemplate := suspended &&
		(notStarted || batchvalidation.IsConditionTrue(old.Status.Conditions, batch.JobSuspended)) &&
		old.Status.Active == 0
	if utilfeature.DefaultFeatureGate.Enabled(features.MutablePodResourcesForSuspendedJobs) {
		opts.AllowMutablePodResources = mutableTemplate
	}
	if utilfeature.DefaultFeatureGate.Enabled(features.MutableSchedulingDirectivesForSuspendedJobs) {
		opts.AllowMutableSchedulingDirectives = mutableTemplate
	}
	// Jobs created before the prefixed labels existed keep validating without them.
	_, hadJobName := old.Spec.Template.Labels[batch.JobNameLabel]
	_, hadControllerUID := old.Spec.Template.Labels[batch.ControllerUidLabel]
	opts.RequirePrefixedLabels = hadJobName && hadControllerUID
	return opts
}

func jobStatusValidationOptions(job, old *batch.Job) batchvalidation.JobStatusValidationOptions {
	if !utilfeature.DefaultFeatureGate.Enabled(features.JobManagedBy) {
		return batchvalidation.JobStatusValidationOptions{}
	}
	isIndexed := ptr.Deref(job.Spec.CompletionMode, batch.NonIndexedCompletion) == batch.IndexedCompletion
	finishedChanged := batchvalidation.IsJobFinished(old) != batchvalidation.IsJobFinished(job)
	completeChanged := batchvalidation.IsJobComplete(old) != batchvalidation.IsJobComplete(job)
	failedChanged := batchvalidation.IsJobFailed(old) != batchvalidation.IsJobFailed(job)
	failureTargetChanged := batchvalidation.IsConditionTrue(old.Status.Conditions, batch.JobFailureTarget) != batchvalidation.IsConditionTrue(job.Status.Conditions, batch.JobFailureTarget)
	successCriteriaMetChanged := batchvalidation.IsConditionTrue(old.Status.Conditions, batch.JobSuccessCriteriaMet) != batchvalidation.IsConditionTrue(job.Status.Conditions, batch.JobSuccessCriteriaMet)
	completedIndexesChanged := old.Status.CompletedIndexes != job.Status.CompletedIndexes
	failedIndexesChanged := !ptr.Equal(old.Status.FailedIndexes, job.Status.FailedIndexes)
	activeChanged := old.Status.Active != job.Status.Active
	startTimeChanged := !ptr.Equal(old.Status.StartTime, job.Status.StartTime)
	completionTimeChanged := !ptr.Equal(old.Status.CompletionTime, job.Status.CompletionTime)
	uncountedChanged := !apiequality.Semantic.DeepEqual(old.Status.UncountedTerminatedPods, job.Status.UncountedTerminatedPods)
	readyChanged := !ptr.Equal(old.Status.Ready, job.Status.Ready)
	terminatingChanged := !ptr.Equal(old.Status.Terminating, job.Status.Terminating)
	suspendedWithZeroCompletions := ptr.Equal(job.Spec.Suspend, ptr.To(true)) && ptr.Equal(job.Spec.Completions, ptr.To[int32](0))
	resuming := batchvalidation.IsConditionTrue(old.Status.Conditions, batch.JobSuspended) &&
		batchvalidation.IsConditionFalse(job.Status.Conditions, batch.JobSuspended)
	return batchvalidation.JobStatusValidationOptions{
		RejectDecreasingSucceededCounter:             !isIndexed || !ptr.Equal(job.Spec.Completions, job.Spec.Parallelism),
		RejectDecreasingFailedCounter:                true,
		RejectDisablingTerminalCondition:             true,
		RejectInvalidCompletedIndexes:                completedIndexesChanged,
		RejectInvalidFailedIndexes:                   failedIndexesChanged,
		RejectCompletedIndexesForNonIndexedJob:       completedIndexesChanged,
		RejectFailedIndexesForNoBackoffLimitPerIndex: failedIndexesChanged,
		RejectFailedIndexesOverlappingCompleted:      failedIndexesChanged || completedIndexesChanged,
		RejectFailedJobWithoutFailureTarget:          failedChanged || failedIndexesChanged,
		RejectCompleteJobWithoutSuccessCriteriaMet:   completeChanged || successCriteriaMetChanged,
		RejectFinishedJobWithActivePods:              finishedChanged || activeChanged,
		RejectFinishedJobWithoutStartTime:            (finishedChanged || startTimeChanged) && !suspendedWithZeroCompletions,
		RejectFinishedJobWithUncountedTerminatedPods: finishedChanged || uncountedChanged,
		RejectStartTimeUpdateForUnsuspendedJob:       startTimeChanged && !resuming,
		RejectCompletionTimeBeforeStartTime:          startTimeChanged || completionTimeChanged,
		RejectMutatingCompletionTime:                 true,
		RejectNotCompleteJobWithCompletionTime:       completeChanged || completionTimeChanged,
		RejectCompleteJobWithoutCompletionTime:       completeChanged || completionTimeChanged,
		RejectCompleteJobWithFailedCondition:         completeChanged || failedChanged,
		RejectCompleteJobWithFailureTargetCondition:  completeChanged || failureTargetChanged,
		RejectMoreReadyThanActivePods:                readyChanged || activeChanged,
		RejectFinishedJobWithTerminatingPods:         finishedChanged || terminatingChanged,
	}
}

var cronJobRules = rules[*batchv1.CronJob, *batch.CronJob]{
	prepareCreate: func(ctx context.Context, cj *batch.CronJob) {
		cj.Status = batch.CronJobStatus{}
		cj.Generation = 1
		jobutil.DropDisabledFields(&cj.Spec.JobTemplate.Spec, nil)
		podutil.DropDisabledTemplateFields(&cj.Spec.JobTemplate.Spec.Template, nil)
	},
	prepareUpdate: func(ctx context.Context, cj, old *batch.CronJob) {
		cj.Status = old.Status
		jobutil.DropDisabledFields(&cj.Spec.JobTemplate.Spec, &old.Spec.JobTemplate.Spec)
		podutil.DropDisabledTemplateFields(&cj.Spec.JobTemplate.Spec.Template, &old.Spec.JobTemplate.Spec.Template)
		if !apiequality.Semantic.DeepEqual(cj.Spec, old.Spec) {
			cj.Generation = old.Generation + 1
		}
	},
	prepareStatusUpdate: func(ctx context.Context, cj, old *batch.CronJob) {
		cj.Spec = old.Spec
	},
	validate: func(ctx context.Context, cj *batch.CronJob) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&cj.Spec.JobTemplate.Spec.Template, nil)
		return batchvalidation.ValidateCronJobCreate(cj, opts)
	},
	validateUpdate: func(ctx context.Context, cj, old *batch.CronJob) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&cj.Spec.JobTemplate.Spec.Template, &old.Spec.JobTemplate.Spec.Template)
		return batchvalidation.ValidateCronJobUpdate(cj, old, opts)
	},
	// Upstream validates nothing on a cronjobs/status write.
	validateStatusUpdate: func(ctx context.Context, cj, old *batch.CronJob) field.ErrorList { return nil },
	declarative:          workloadWithJob[*batch.CronJob],
}
