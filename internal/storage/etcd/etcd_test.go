package etcd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantryhq/gantry/internal/storage"
	"github.com/gantryhq/gantry/internal/storage/storagetest"
)

func TestStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return startServer(t, Config{DataDir: testDir(t)}).Store()
	})
}

func TestReopenKeepsDataAndRevisions(t *testing.T) {
	dir := testDir(t)
	srv := startServer(t, Config{DataDir: dir})
	s := srv.Store()
	ctx := t.Context()
	r1, err := s.Create(ctx, "/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Update(ctx, "/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, socketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}

	s = startServer(t, Config{DataDir: dir}).Store()
	kv, err := s.Get(ctx, "/a")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if string(kv.Value) != "2" || kv.ModRevision != r2 {
		t.Fatalf("after reopen /a = %q @%d, want %q @%d", kv.Value, kv.ModRevision, "2", r2)
	}
	if rev, err := s.Revision(ctx); err != nil || rev != r2 {
		t.Fatalf("Revision after reopen = %d, %v; want %d", rev, err, r2)
	}
	// History survives too.
	res, err := s.List(ctx, "/", storage.ListOptions{Revision: r1})
	if err != nil || len(res.Items) != 1 || string(res.Items[0].Value) != "1" {
		t.Fatalf("List at %d after reopen = %+v, %v", r1, res, err)
	}
	r3, err := s.Create(ctx, "/b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r3 <= r2 {
		t.Fatalf("revision after reopen %d, want > %d", r3, r2)
	}
}

// TestKillLosesNothingAcknowledged kills etcd with SIGKILL while it takes writes and checks
// that every write it acknowledged is there on restart.
func TestKillLosesNothingAcknowledged(t *testing.T) {
	if dir := os.Getenv("GANTRY_ETCD_WRITER_DIR"); dir != "" {
		writeUntilKilled(dir)
		return
	}
	dir := testDir(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKillLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), "GANTRY_ETCD_WRITER_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The writer prints "key revision" after each acknowledged create; kill it mid-stream.
	acked := map[string]int64{}
	lines := bufio.NewScanner(out)
	for len(acked) < 300 && lines.Scan() {
		key, rev, ok := strings.Cut(lines.Text(), " ")
		if !ok {
			continue // the test binary's own output
		}
		n, err := strconv.ParseInt(rev, 10, 64)
		if err != nil {
			t.Fatalf("writer said %q", lines.Text())
		}
		acked[key] = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("writer stopped after %d writes", len(acked))
	}

	s := startServer(t, Config{DataDir: dir}).Store()
	for key, rev := range acked {
		kv, err := s.Get(t.Context(), key)
		if err != nil {
			t.Fatalf("acknowledged write lost: %s @%d: %v", key, rev, err)
		}
		if kv.ModRevision != rev {
			t.Fatalf("%s @%d, acknowledged @%d", key, kv.ModRevision, rev)
		}
	}
}

// writeUntilKilled is the child process of TestKillLosesNothingAcknowledged.
func writeUntilKilled(dir string) {
	srv, err := Start(context.Background(), Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := srv.Store()
	value := make([]byte, 1024)
	for i := 0; ; i++ {
		key := fmt.Sprintf("/k/%06d", i)
		rev, err := s.Create(context.Background(), key, value)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s %d\n", key, rev)
	}
}

func TestAutomaticCompaction(t *testing.T) {
	compacted := make(chan int64, 100)
	s := startServer(t, Config{
		DataDir:         testDir(t),
		CompactInterval: 20 * time.Millisecond,
		compacted: func(rev int64) {
			select {
			case compacted <- rev:
			default:
			}
		},
	}).Store()
	ctx := t.Context()
	r1, err := s.Create(ctx, "/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Update(ctx, "/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}

	// The compactor trails the store by one interval: wait until it has passed r2.
	timeout := time.After(10 * time.Second)
	for rev := int64(0); rev < r2; {
		select {
		case rev = <-compacted:
		case <-timeout:
			t.Fatalf("no compaction to %d in 10s", r2)
		}
	}
	if _, err := s.List(ctx, "/", storage.ListOptions{Revision: r1}); !errors.Is(err, storage.ErrCompacted) {
		t.Fatalf("List at %d after automatic compaction: err = %v, want ErrCompacted", r1, err)
	}
	if kv, err := s.Get(ctx, "/a"); err != nil || string(kv.Value) != "2" {
		t.Fatalf("Get after compaction = %+v, %v", kv, err)
	}
}

func TestLongDataDirFallsBackToLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", maxSocketPath))
	srv := startServer(t, Config{DataDir: dir})
	if !strings.HasPrefix(srv.ClientURL(), "http://127.0.0.1:") || strings.HasSuffix(srv.ClientURL(), ":0") {
		t.Fatalf("ClientURL = %q, want an ephemeral loopback port", srv.ClientURL())
	}
	if _, err := srv.Store().Create(t.Context(), "/a", nil); err != nil {
		t.Fatal(err)
	}
}

func TestStartNeedsDataDir(t *testing.T) {
	if _, err := Start(t.Context(), Config{}); err == nil {
		t.Fatal("Start without DataDir succeeded")
	}
}

// startServer starts a Server that logs to t and closes with the test.
func startServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	srv, err := Start(tb.Context(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Error(err)
		}
	})
	return srv
}

// testLogger logs to tb until the test ends; etcd may log while shutting down.
func testLogger(tb testing.TB) *slog.Logger {
	w := &testWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// testDir is a data directory that Start creates, and so with the mode etcd wants.
func testDir(tb testing.TB) string { return filepath.Join(tb.TempDir(), "etcd") }

func TestStartRefusesADirectoryInUse(t *testing.T) {
	dir := testDir(t)
	srv := startServer(t, Config{DataDir: dir})
	if _, err := Start(t.Context(), Config{DataDir: dir}); err == nil {
		t.Fatal("second Start on the same directory succeeded")
	}
	// The first server still works, and its socket is still there.
	if _, err := srv.Store().Create(t.Context(), "/a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, socketName)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	startServer(t, Config{DataDir: dir})
}

// The compactor relies on compacting to an already compacted revision being a no-op, as it is
// after a restart.
func TestCompactIsIdempotent(t *testing.T) {
	s := startServer(t, Config{DataDir: testDir(t)}).Store()
	ctx := t.Context()
	r1, err := s.Create(ctx, "/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Create(ctx, "/b", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range []int64{r2, r2, r1} {
		if err := s.Compact(ctx, rev); err != nil {
			t.Fatalf("Compact to %d: %v", rev, err)
		}
	}
	if err := s.Compact(ctx, r2+1); !errors.Is(err, storage.ErrFutureRevision) {
		t.Fatalf("Compact to a future revision: err = %v, want ErrFutureRevision", err)
	}
}
