// Package storagetest is the conformance suite for storage.Store. Every implementation runs it
// from its own tests:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return newTestStore(t) })
//	}
//
// Each test gets a fresh, empty store from newStore, which must release it with t.Cleanup.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantryhq/gantry/internal/storage"
)

// eventTimeout bounds the wait for a watch event that must come.
const eventTimeout = 10 * time.Second

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"RevisionsIncrease", testRevisionsIncrease},
		{"ListOrder", testListOrder},
		{"ListPages", testListPages},
		{"ListAtRevision", testListAtRevision},
		{"ListCompacted", testListCompacted},
		{"ListFutureRevision", testListFutureRevision},
		{"Watch", testWatch},
		{"WatchReplay", testWatchReplay},
		{"WatchCompacted", testWatchCompacted},
		{"WatchCancel", testWatchCancel},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentUpdate", testConcurrentUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func testCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	if _, err := s.Get(ctx, "/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	rev := mustCreate(t, s, "/a", "one")
	if rev <= 0 {
		t.Fatalf("Create returned revision %d, want > 0", rev)
	}
	mustGet(t, s, "/a", "one", rev)

	if _, err := s.Create(ctx, "/a", []byte("two")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create: err = %v, want ErrExists", err)
	}
	mustGet(t, s, "/a", "one", rev)
	// A key is not a prefix: "/a" exists, "/a/b" and "/" do not.
	for _, k := range []string{"/a/b", "/"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get %q: err = %v, want ErrNotFound", k, err)
		}
	}
}

func testUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rev := mustCreate(t, s, "/a", "one")

	if _, err := s.Update(ctx, "/a", []byte("stale"), rev-1); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update at a wrong revision: err = %v, want ErrConflict", err)
	}
	mustGet(t, s, "/a", "one", rev)

	rev2, err := s.Update(ctx, "/a", []byte("two"), rev)
	if err != nil {
		t.Fatalf("Update at the right revision: %v", err)
	}
	if rev2 <= rev {
		t.Fatalf("Update returned revision %d, want > %d", rev2, rev)
	}
	mustGet(t, s, "/a", "two", rev2)

	// The revision it had is no longer good.
	if _, err := s.Update(ctx, "/a", []byte("three"), rev); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update at the replaced revision: err = %v, want ErrConflict", err)
	}
	mustGet(t, s, "/a", "two", rev2)

	// A missing key is ErrNotFound whatever the revision, and Update never creates it.
	for _, expected := range []int64{0, rev2, rev2 + 100} {
		if _, err := s.Update(ctx, "/missing", []byte("x"), expected); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Update of a missing key at %d: err = %v, want ErrNotFound", expected, err)
		}
	}
	if _, err := s.Get(ctx, "/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Update created the missing key: Get err = %v", err)
	}
	mustDelete(t, s, "/a", rev2)
	if _, err := s.Update(ctx, "/a", []byte("x"), rev2); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Update of a deleted key: err = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rev := mustCreate(t, s, "/a", "one")

	if _, _, err := s.Delete(ctx, "/a", rev+1); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete at a wrong revision: err = %v, want ErrConflict", err)
	}
	mustGet(t, s, "/a", "one", rev)

	kv, delRev, err := s.Delete(ctx, "/a", rev)
	if err != nil {
		t.Fatalf("Delete at the right revision: %v", err)
	}
	checkKV(t, "deleted", kv, "/a", "one", rev)
	if delRev <= rev {
		t.Fatalf("Delete returned revision %d, want > %d", delRev, rev)
	}
	if _, err := s.Get(ctx, "/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	for _, expected := range []int64{0, rev} {
		if _, _, err := s.Delete(ctx, "/a", expected); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete of a deleted key at %d: err = %v, want ErrNotFound", expected, err)
		}
	}

	// expected 0 deletes whatever revision the key has.
	rev = mustCreate(t, s, "/b", "one")
	rev, err = s.Update(ctx, "/b", []byte("two"), rev)
	if err != nil {
		t.Fatal(err)
	}
	kv, delRev, err = s.Delete(ctx, "/b", 0)
	if err != nil {
		t.Fatalf("unconditional Delete: %v", err)
	}
	checkKV(t, "deleted", kv, "/b", "two", rev)
	if cur := mustRevision(t, s); delRev != cur {
		t.Fatalf("Delete returned revision %d, store is at %d", delRev, cur)
	}
}

func testRevisionsIncrease(t *testing.T, s storage.Store) {
	ctx := t.Context()
	last := mustRevision(t, s)
	check := func(op string, rev int64) {
		t.Helper()
		if rev <= last {
			t.Fatalf("%s returned revision %d after %d", op, rev, last)
		}
		if cur := mustRevision(t, s); cur != rev {
			t.Fatalf("Revision = %d after %s at %d", cur, op, rev)
		}
		last = rev
	}
	for i := range 5 {
		key := fmt.Sprintf("/k%d", i)
		rev := mustCreate(t, s, key, "v")
		check("Create", rev)
		rev, err := s.Update(ctx, key, []byte("w"), rev)
		if err != nil {
			t.Fatal(err)
		}
		check("Update", rev)
		_, rev, err = s.Delete(ctx, key, rev)
		if err != nil {
			t.Fatal(err)
		}
		check("Delete", rev)
	}
	// Failed writes change nothing.
	mustCreate(t, s, "/x", "v")
	last = mustRevision(t, s)
	_, _ = s.Create(ctx, "/x", []byte("v"))
	_, _ = s.Update(ctx, "/x", []byte("v"), 1)
	_, _, _ = s.Delete(ctx, "/x", 1)
	if cur := mustRevision(t, s); cur != last {
		t.Fatalf("failed writes moved the revision from %d to %d", last, cur)
	}
}

func testListOrder(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Created out of order, with neighbours just outside the prefix on both sides.
	for _, k := range []string{"/pods/b", "/pods/a/x", "/podsx", "/pods/c", "/pod", "/pods/a"} {
		mustCreate(t, s, k, "v"+k)
	}
	rev := mustRevision(t, s)
	res, err := s.List(ctx, "/pods/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, res, "/pods/a", "/pods/a/x", "/pods/b", "/pods/c")
	if res.More || res.Revision != rev {
		t.Fatalf("List: More = %v, Revision = %d; want false, %d", res.More, res.Revision, rev)
	}
	for _, kv := range res.Items {
		if string(kv.Value) != "v"+kv.Key || kv.ModRevision <= 0 {
			t.Errorf("List item %+v", kv)
		}
	}

	res, err = s.List(ctx, "", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, res, "/pod", "/pods/a", "/pods/a/x", "/pods/b", "/pods/c", "/podsx")

	res, err = s.List(ctx, "/nothing/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, res)
}

func testListPages(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, k := range []string{"/p/e", "/p/b", "/p/d", "/p/a", "/p/c", "/q"} {
		mustCreate(t, s, k, "v")
	}

	page, err := s.List(ctx, "/p/", storage.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, page, "/p/a", "/p/b")
	checkMore(t, page, true, 3)
	rev := page.Revision

	// Changes after the first page do not show in the later ones.
	mustCreate(t, s, "/p/bb", "v")
	mustDelete(t, s, "/p/e", 0)

	page, err = s.List(ctx, "/p/", storage.ListOptions{Limit: 2, After: "/p/b", Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, page, "/p/c", "/p/d")
	checkMore(t, page, true, 1)
	if page.Revision != rev {
		t.Fatalf("second page at revision %d, want %d", page.Revision, rev)
	}

	page, err = s.List(ctx, "/p/", storage.ListOptions{Limit: 2, After: "/p/d", Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, page, "/p/e")
	checkMore(t, page, false, 0)

	// A limit equal to what is left is not More.
	page, err = s.List(ctx, "/p/", storage.ListOptions{Limit: 2, After: "/p/c"})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, page, "/p/d")
	checkMore(t, page, false, 0)

	// The latest state, paged by one from the middle.
	page, err = s.List(ctx, "/p/", storage.ListOptions{Limit: 1, After: "/p/b"})
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, page, "/p/bb")
	checkMore(t, page, true, 2)
}

func testListAtRevision(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := mustRevision(t, s)
	r1 := mustCreate(t, s, "/a", "a1")
	mustCreate(t, s, "/b", "b1")
	r2, err := s.Update(ctx, "/a", []byte("a2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	mustDelete(t, s, "/b", 0)
	mustCreate(t, s, "/c", "c1")

	list := func(rev int64) storage.ListResult {
		t.Helper()
		res, err := s.List(ctx, "/", storage.ListOptions{Revision: rev})
		if err != nil {
			t.Fatalf("List at %d: %v", rev, err)
		}
		if res.Revision != rev {
			t.Fatalf("List at %d: Revision = %d", rev, res.Revision)
		}
		return res
	}
	checkKeys(t, list(before))
	res := list(r2 - 1)
	checkKeys(t, res, "/a", "/b")
	checkKV(t, "item", res.Items[0], "/a", "a1", r1)
	res = list(r2)
	checkKeys(t, res, "/a", "/b")
	checkKV(t, "item", res.Items[0], "/a", "a2", r2)
	checkKeys(t, list(mustRevision(t, s)), "/a", "/c")
}

func testListCompacted(t *testing.T, s storage.Store) {
	ctx := t.Context()
	r1 := mustCreate(t, s, "/a", "1")
	r2, err := s.Update(ctx, "/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/b", "1")
	if err := s.Compact(ctx, r2); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	for _, rev := range []int64{r1, r2 - 1} {
		if _, err := s.List(ctx, "/", storage.ListOptions{Revision: rev}); !errors.Is(err, storage.ErrCompacted) {
			t.Errorf("List at %d after compaction to %d: err = %v, want ErrCompacted", rev, r2, err)
		}
	}
	// The compacted revision itself is the oldest kept.
	res, err := s.List(ctx, "/", storage.ListOptions{Revision: r2})
	if err != nil {
		t.Fatalf("List at the compacted revision: %v", err)
	}
	checkKeys(t, res, "/a")
	checkKV(t, "item", res.Items[0], "/a", "2", r2)
	// The latest state is untouched.
	mustGet(t, s, "/a", "2", r2)
}

func testListFutureRevision(t *testing.T, s storage.Store) {
	rev := mustCreate(t, s, "/a", "1")
	_, err := s.List(t.Context(), "/", storage.ListOptions{Revision: rev + 1})
	if !errors.Is(err, storage.ErrFutureRevision) {
		t.Fatalf("List at %d with the store at %d: err = %v, want ErrFutureRevision", rev+1, rev, err)
	}
}

func testWatch(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreate(t, s, "/w/old", "v")
	start := mustRevision(t, s)
	events := mustWatch(t, s, "/w/", start)

	r1 := mustCreate(t, s, "/w/a", "1")
	mustCreate(t, s, "/x", "outside") // not under the prefix
	r2, err := s.Update(ctx, "/w/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	_, r3, err := s.Delete(ctx, "/w/a", r2)
	if err != nil {
		t.Fatal(err)
	}
	r4 := mustCreate(t, s, "/w/a", "3")

	checkEvent(t, next(t, events), storage.EventPut, true, "/w/a", "1", r1, "")
	checkEvent(t, next(t, events), storage.EventPut, false, "/w/a", "2", r2, "1")
	checkEvent(t, next(t, events), storage.EventDelete, false, "/w/a", "2", r3, "")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/a", "3", r4, "")
}

func testWatchReplay(t *testing.T, s storage.Store) {
	ctx := t.Context()
	r1 := mustCreate(t, s, "/w/a", "1")
	r2 := mustCreate(t, s, "/w/b", "1")
	r3, err := s.Update(ctx, "/w/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	_, r4, err := s.Delete(ctx, "/w/b", 0)
	if err != nil {
		t.Fatal(err)
	}

	// From before the first change: all of them, then what follows.
	events := mustWatch(t, s, "/w/", r1-1)
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/a", "1", r1, "")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/b", "1", r2, "")
	checkEvent(t, next(t, events), storage.EventPut, false, "/w/a", "2", r3, "1")
	checkEvent(t, next(t, events), storage.EventDelete, false, "/w/b", "1", r4, "")
	r5 := mustCreate(t, s, "/w/c", "1")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/c", "1", r5, "")

	// From a revision in the middle: strictly after it.
	events = mustWatch(t, s, "/w/", r3)
	checkEvent(t, next(t, events), storage.EventDelete, false, "/w/b", "1", r4, "")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/c", "1", r5, "")
}

func testWatchCompacted(t *testing.T, s storage.Store) {
	ctx := t.Context()
	r1 := mustCreate(t, s, "/w/a", "1")
	r2, err := s.Update(ctx, "/w/a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	_, r3, err := s.Delete(ctx, "/w/a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, r3); err != nil {
		t.Fatal(err)
	}

	// after must not be older than the oldest kept revision, r3: not even r3-1, whose one
	// change (the delete at r3) a store may no longer have.
	for _, after := range []int64{r1 - 1, r2, r3 - 1} {
		events := mustWatch(t, s, "/w/", after)
		e := next(t, events)
		if e.Type != storage.EventError || !errors.Is(e.Err, storage.ErrCompacted) {
			t.Fatalf("watch from %d after compaction to %d: got %+v, want EventError with ErrCompacted", after, r3, e)
		}
		expectClosed(t, events)
	}

	events := mustWatch(t, s, "/w/", r3)
	r4 := mustCreate(t, s, "/w/a", "3")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/a", "3", r4, "")
}

func testWatchCancel(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	events, err := s.Watch(ctx, "/w/", mustRevision(t, s))
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustCreate(t, s, "/w/a", "1")
	checkEvent(t, next(t, events), storage.EventPut, true, "/w/a", "1", r1, "")
	cancel()
	// Events may still be in flight; the channel must close without an error event.
	timeout := time.After(eventTimeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Type == storage.EventError {
				t.Fatalf("canceled watch sent %+v", e)
			}
		case <-timeout:
			t.Fatal("watch channel not closed after cancel")
		}
	}
}

func testConcurrentCreate(t *testing.T, s storage.Store) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Create(t.Context(), "/race", fmt.Appendf(nil, "%d", i))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("create %d: err = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	kv, err := s.Get(t.Context(), "/race")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(winner); string(kv.Value) != want {
		t.Fatalf("value %q, want the winner's %q", kv.Value, want)
	}
}

func testConcurrentUpdate(t *testing.T, s storage.Store) {
	const n = 16
	rev := mustCreate(t, s, "/race", "start")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Update(t.Context(), "/race", fmt.Appendf(nil, "%d", i), rev)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Fatalf("update %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d updates at the same revision succeeded, want 1", wins)
	}
}

func mustCreate(t *testing.T, s storage.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Create(t.Context(), key, []byte(value))
	if err != nil {
		t.Fatalf("Create %s: %v", key, err)
	}
	return rev
}

func mustDelete(t *testing.T, s storage.Store, key string, expected int64) {
	t.Helper()
	if _, _, err := s.Delete(t.Context(), key, expected); err != nil {
		t.Fatalf("Delete %s: %v", key, err)
	}
}

func mustGet(t *testing.T, s storage.Store, key, value string, rev int64) {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	checkKV(t, "Get", kv, key, value, rev)
}

func mustRevision(t *testing.T, s storage.Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func mustWatch(t *testing.T, s storage.Store, prefix string, after int64) <-chan storage.Event {
	t.Helper()
	events, err := s.Watch(t.Context(), prefix, after)
	if err != nil {
		t.Fatalf("Watch %s from %d: %v", prefix, after, err)
	}
	return events
}

func checkKV(t *testing.T, what string, kv storage.KeyValue, key, value string, rev int64) {
	t.Helper()
	if kv.Key != key || string(kv.Value) != value || kv.ModRevision != rev {
		t.Fatalf("%s = {%s %q @%d}, want {%s %q @%d}", what, kv.Key, kv.Value, kv.ModRevision, key, value, rev)
	}
}

func checkKeys(t *testing.T, res storage.ListResult, keys ...string) {
	t.Helper()
	got := make([]string, len(res.Items))
	for i, kv := range res.Items {
		got[i] = kv.Key
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("listed %q, want %q", got, keys)
	}
}

func checkMore(t *testing.T, res storage.ListResult, more bool, remaining int64) {
	t.Helper()
	if res.More != more || (more && res.Remaining != remaining) {
		t.Fatalf("More = %v, Remaining = %d; want %v, %d", res.More, res.Remaining, more, remaining)
	}
}

// next returns the next event, failing the test if none comes in eventTimeout.
func next(t *testing.T, events <-chan storage.Event) storage.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		return e
	case <-time.After(eventTimeout):
		t.Fatalf("no watch event in %v", eventTimeout)
	}
	panic("unreachable")
}

func expectClosed(t *testing.T, events <-chan storage.Event) {
	t.Helper()
	select {
	case e, ok := <-events:
		if ok {
			t.Fatalf("event %+v after the error, want the channel closed", e)
		}
	case <-time.After(eventTimeout):
		t.Fatal("watch channel not closed after its error")
	}
}

// checkEvent checks e against the expected change. For a delete, value is the value deleted;
// prev is the replaced value of an update ("" for none).
func checkEvent(t *testing.T, e storage.Event, typ storage.EventType, created bool, key, value string, rev int64, prev string) {
	t.Helper()
	if e.Type == storage.EventError {
		t.Fatalf("watch error: %v", e.Err)
	}
	if e.Type != typ || e.Created != created || e.KV.Key != key || string(e.KV.Value) != value ||
		e.KV.ModRevision != rev || string(e.PrevValue) != prev {
		t.Fatalf("event {type %d created %v %s %q @%d prev %q}, want {type %d created %v %s %q @%d prev %q}",
			e.Type, e.Created, e.KV.Key, e.KV.Value, e.KV.ModRevision, e.PrevValue,
			typ, created, key, value, rev, prev)
	}
}
