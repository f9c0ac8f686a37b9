// Package cronjob starts a Job for every run of every CronJob, as kube-controller-manager's
// cronjob controller does.
//
// Reconciling a CronJob:
//
//  1. Its Jobs are those it controls. Finished ones leave status.active (SawCompletedJob);
//     the latest completionTime of a Complete one is status.lastSuccessfulTime. An active
//     Job that is gone from the API leaves the list too (MissingJob); an unfinished Job not
//     in the list is reported (UnexpectedJob).
//  2. Finished Jobs beyond successfulJobsHistoryLimit and failedJobsHistoryLimit are
//     deleted, oldest start first, in the background (SuccessfulDelete).
//  3. Unless the CronJob is suspended or being deleted, the run that is due is found: the
//     latest scheduled time after lastScheduleTime (else creationTimestamp), and after now -
//     startingDeadlineSeconds, up to now. The schedule is standard cron syntax with
//     robfig/cron (five fields, @hourly and friends, CRON_TZ=), in spec.timeZone if set.
//     Only the latest missed run is started; more than 100 missed runs also warn
//     (TooManyMissedTimes). A run more than startingDeadlineSeconds late is skipped.
//  4. concurrencyPolicy: Forbid skips the run while a Job is active (JobAlreadyActive);
//     Replace deletes the active Jobs first; Allow runs them side by side.
//  5. The Job is named "<cronjob>-<scheduled time in minutes since the epoch>", so a run is
//     never created twice, is controlled by the CronJob, and carries the annotation
//     batch.kubernetes.io/cronjob-scheduled-timestamp (RFC 3339, in the CronJob's time
//     zone). It joins status.active and its time becomes status.lastScheduleTime
//     (SuccessfulCreate).
//  6. Status is written once if it changed, and the CronJob is looked at again 100 ms after
//     its next scheduled time.
//
// The clock is a field (k8s.io/utils/clock) so tests decide schedules at any time they like.
package cronjob
