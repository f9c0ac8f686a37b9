package controller

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestSlowStart(t *testing.T) {
	var calls atomic.Int32
	n, err := SlowStart(10, func(int) error {
		calls.Add(1)
		return errors.New("quota")
	})
	if n != 0 || err == nil || calls.Load() != 1 {
		t.Errorf("SlowStart = %d, %v after %d calls; want 0, an error, 1 call", n, err, calls.Load())
	}
	// A failure in the third batch (calls 3..6) stops before the fourth.
	calls.Store(0)
	n, err = SlowStart(20, func(i int) error {
		calls.Add(1)
		if i == 5 {
			return errors.New("quota")
		}
		return nil
	})
	if n != 6 || err == nil || calls.Load() != 7 {
		t.Errorf("SlowStart = %d, %v after %d calls; want 6, an error, 7 calls", n, err, calls.Load())
	}
}
