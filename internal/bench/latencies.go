package bench

import (
	"slices"
	"time"
)

// latencies is a sample of durations.
type latencies []time.Duration

// percentile returns the p-th percentile (0 < p <= 100) by the nearest-rank method, or 0 for
// an empty sample.
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	return s[min(max(rank, 1), len(s))-1]
}
