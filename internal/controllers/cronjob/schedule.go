package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// manyMissed is how many missed start times make the controller warn (TooManyMissedTimes):
// more than a long weekend of an hourly schedule, fewer than a clock off by decades.
const manyMissed = 100

// nextDelta is how long after a scheduled time the CronJob is looked at again, so that the
// clock has surely passed it.
const nextDelta = 100 * time.Millisecond

// parseSchedule parses cj's schedule, in spec.timeZone if it names one (a CRON_TZ= or TZ=
// prefix in the schedule itself wins). The parser panics on some inputs; that is an error too.
func parseSchedule(cj *batchv1.CronJob) (s cron.Schedule, err error) {
	spec := cj.Spec.Schedule
	if !strings.Contains(spec, "TZ") && cj.Spec.TimeZone != nil {
		spec = fmt.Sprintf("TZ=%s %s", *cj.Spec.TimeZone, spec)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("parse schedule %q: %v", spec, r)
		}
	}()
	return cron.ParseStandard(spec)
}

// mostRecent returns the latest scheduled time in (earliest, now], where earliest is the last
// schedule time, else the creation time, moved up to now - startingDeadlineSeconds when
// withDeadline is set. It also returns earliest and how many start times were missed (an
// estimate, from the interval between the next two).
func mostRecent(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, withDeadline bool) (earliest time.Time, recent *time.Time, missed int64, err error) {
	earliest = cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if deadline := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	t1 := sched.Next(earliest)
	t2 := sched.Next(t1)
	switch {
	case now.Before(t1):
		return earliest, nil, 0, nil
	case now.Before(t2):
		return earliest, &t1, 1, nil
	}
	between := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if between < 1 {
		// A schedule that never fires, such as "59 23 31 2 *".
		return earliest, nil, 0, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	missed = int64(now.Sub(t1).Seconds())/between + 1
	// Start one interval before the estimated last miss, and step with the schedule itself:
	// irregular schedules ("30 6-16/4 * * 1-5") are not evenly spaced.
	var last time.Time
	for t := sched.Next(t1.Add(time.Duration((missed-2)*between) * time.Second)); !t.After(now); t = sched.Next(t) {
		last = t
	}
	if last.IsZero() {
		return earliest, nil, missed, nil
	}
	return earliest, &last, missed, nil
}

// untilNext is how long from now until the CronJob should be looked at again: just after the
// next scheduled time.
func untilNext(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) time.Duration {
	earliest, recent, missed, err := mostRecent(cj, now, sched, false)
	from := now
	switch {
	case err == nil && recent != nil:
		from = *recent
	case err == nil && missed == 0:
		from = earliest
	}
	return sched.Next(from).Add(nextDelta).Sub(now)
}

// jobName is the name of the Job for the run scheduled at t: "<cronjob>-<minutes since the
// epoch>", the same for every attempt, so that a run is never created twice.
func jobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}
