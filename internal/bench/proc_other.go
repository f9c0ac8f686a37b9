//go:build !linux

package bench

import (
	"errors"
	"fmt"
	"time"
)

// processMemory is only implemented on Linux, where /proc has it.
func processMemory(pid int) (rss, peak int64, err error) {
	return 0, 0, fmt.Errorf("memory of process %d: %w", pid, errors.ErrUnsupported)
}

// processCPU is only implemented on Linux, where /proc has it.
func processCPU(pid int) (time.Duration, error) {
	return 0, fmt.Errorf("CPU time of process %d: %w", pid, errors.ErrUnsupported)
}
