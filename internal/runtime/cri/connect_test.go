package cri

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestConnectGivesUpWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	endpoint := "unix://" + filepath.Join(t.TempDir(), "nothing.sock")
	_, _, err := Connect(ctx, endpoint)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect to a socket nobody serves: %v, want the context's deadline", err)
	}
}

func TestConnectRejectsTCPEndpoints(t *testing.T) {
	if _, _, err := Connect(t.Context(), "tcp://127.0.0.1:1"); err == nil {
		t.Error("Connect to a tcp endpoint succeeded")
	}
}
