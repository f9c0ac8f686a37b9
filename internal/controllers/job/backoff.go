package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The delay before a failed pod is replaced: 10 s after the first failure, doubling with
// each further failure since the last success, at most 6 minutes (upstream's values).
const (
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

// backoffRecord is what the delay before the next pod creation depends on.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailure              time.Time
}

// backoffStore keeps a backoffRecord per Job key. It is safe for concurrent use.
type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{m: map[string]backoffRecord{}} }

func (s *backoffStore) get(key string) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

func (s *backoffStore) set(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = r
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// next is r after the pods that newly succeeded and failed: a success resets the count to
// the failures that finished after the last success.
func (r backoffRecord) next(succeeded, failed []*corev1.Pod) backoffRecord {
	byFinish := func(pods []*corev1.Pod) []*corev1.Pod {
		out := append([]*corev1.Pod(nil), pods...)
		sort.SliceStable(out, func(i, j int) bool { return finishTime(out[i]).Before(finishTime(out[j])) })
		return out
	}
	failed = byFinish(failed)
	if len(succeeded) == 0 {
		if len(failed) == 0 {
			return r
		}
		return backoffRecord{failuresAfterLastSuccess: r.failuresAfterLastSuccess + int32(len(failed)), lastFailure: finishTime(failed[len(failed)-1])}
	}
	succeeded = byFinish(succeeded)
	lastSuccess := finishTime(succeeded[len(succeeded)-1])
	var out backoffRecord
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishTime(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if out.lastFailure.IsZero() {
			out.lastFailure = t
		}
		out.failuresAfterLastSuccess++
	}
	return out
}

// remaining is how long after now the next pod may be created.
func (r backoffRecord) remaining(now time.Time) time.Duration {
	if r.failuresAfterLastSuccess == 0 {
		return 0
	}
	delay := backoffBase
	for i := int32(1); i < r.failuresAfterLastSuccess && delay < backoffMax; i++ {
		delay *= 2
	}
	delay = min(delay, backoffMax)
	if elapsed := now.Sub(r.lastFailure); elapsed < delay {
		return delay - elapsed
	}
	return 0
}
