// Package job runs the pods of every Job to completion and records the outcome, as
// kube-controller-manager's job controller does.
//
// Reconciling a Job (Reconcile, then track):
//
//  1. Skip Jobs that are finished (Complete or Failed), managed by another controller
//     (spec.managedBy), or whose last status write the informer has not shown yet: acting on
//     stale counters could count a pod twice.
//  2. Claim pods: those the Job controls, finished ones included; orphans its selector
//     matches are adopted (with the tracking finalizer), owned pods it no longer matches are
//     released. Pods are active (not finished, not being deleted) or terminating (being
//     deleted, not finished); a terminating pod counts as failed unless
//     podReplacementPolicy is Failed.
//  3. Decide whether the Job has failed, in upstream's order: an earlier FailureTarget; a
//     FailJob rule of spec.podFailurePolicy (onExitCodes, onPodConditions; Ignore rules do
//     not count a failure, Count rules do); more failures than spec.backoffLimit
//     (BackoffLimitExceeded, "Job has reached the specified backoff limit"); running longer
//     than spec.activeDeadlineSeconds (DeadlineExceeded, "Job was active longer than
//     specified deadline"). Indexed Jobs may also succeed early by spec.successPolicy.
//  4. A Job that has failed or met its success criteria has its active pods deleted.
//     Otherwise, with expectations satisfied, pods are created or deleted: none while
//     suspended (Suspended condition, Suspended/Resumed events); else parallelism, never
//     more than the completions still missing. Replacements of failed pods wait 10 s after
//     the first failure, doubling per further failure since the last success, up to 6
//     minutes. Pods get generateName "<job>-", the controller reference and the finalizer
//     batch.kubernetes.io/job-tracking; Indexed Jobs create the lowest missing indexes, with
//     the annotation and label batch.kubernetes.io/job-completion-index, the env
//     JOB_COMPLETION_INDEX, hostname "<job>-<index>" and generateName "<job>-<index>-".
//     A Job without completions succeeds when one pod has succeeded and none is running; a
//     Job with completions, when that many have succeeded.
//  5. Count finished pods exactly once with the finalizer: their UIDs are written to
//     status.uncountedTerminatedPods (Indexed Jobs: completedIndexes, as "0-2,4") with the
//     interim FailureTarget or SuccessCriteriaMet condition; then their finalizers are
//     removed; then they move into status.succeeded and status.failed. When nothing is
//     uncounted or terminating, Complete (with completionTime) or Failed is added, with the
//     Completed event or a warning event named by the reason.
//
// Status also carries active, ready, terminating and startTime. Events: SuccessfulCreate,
// FailedCreate, SuccessfulDelete, FailedDelete, Completed, BackoffLimitExceeded,
// DeadlineExceeded, PodFailurePolicy, Suspended, Resumed.
//
// Pods that hold the tracking finalizer but whose Job is gone (deleted in the background,
// say) have the finalizer removed by a second, small loop, so that they can be deleted.
//
// Not done: backoffLimitPerIndex and maxFailedIndexes (and so the FailIndex action, which
// requires them), and the Job's pod group (gang scheduling).
package job
