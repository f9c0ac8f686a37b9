package controller

import (
	"errors"
	"sync"
)

// SlowStart calls fn for 0..count-1 in batches of 1, 2, 4, ..., each batch in parallel, and
// stops after the first batch with a failure, so that a create that keeps failing (a quota,
// say) does not storm the API. It returns how many calls succeeded and their errors.
func SlowStart(count int, fn func(i int) error) (int, error) {
	done, next := 0, 0
	for batch := 1; next < count; batch *= 2 {
		batch = min(batch, count-next)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for j := range batch {
			wg.Go(func() { errs[j] = fn(next + j) })
		}
		wg.Wait()
		next += batch
		for _, err := range errs {
			if err == nil {
				done++
			}
		}
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}
