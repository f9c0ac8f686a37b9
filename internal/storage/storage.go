// Package storage defines the narrow key-value contract the API server keeps its objects in.
//
// A Store knows nothing of HTTP or of Kubernetes kinds: keys are strings, values are opaque
// bytes, and every change is stamped with a cluster-wide, strictly increasing revision. The API
// server uses that revision as the objects' resourceVersion, so a Store must keep it monotonic
// across restarts.
package storage

import (
	"context"
	"errors"
)

// Errors a Store returns. Implementations wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("key already exists")
	// ErrConflict: Update or Delete was made against a revision the key no longer has.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: the requested revision is older than the oldest one still kept.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision: the requested revision is newer than the store's current one.
	ErrFutureRevision = errors.New("revision is in the future")
)

// KeyValue is one stored value as of its last change.
type KeyValue struct {
	Key   string
	Value []byte
	// ModRevision is the revision of the last change to this key.
	ModRevision int64
}

// ListOptions narrows a List.
type ListOptions struct {
	// Revision reads the state as of that revision; 0 reads the latest state.
	Revision int64
	// Limit caps the number of items returned; 0 means no limit.
	Limit int64
	// After starts the listing strictly after this key (used for continue tokens); "" starts at
	// the beginning of the prefix.
	After string
}

// ListResult is one page of a List.
type ListResult struct {
	Items []KeyValue
	// Revision is the revision the page was read at. Later pages of the same listing must be
	// read at the same revision.
	Revision int64
	// More reports that items remain after the last one returned.
	More bool
	// Remaining counts the items after the last one returned (valid when More is true).
	Remaining int64
}

// EventType says what happened to a key.
type EventType int

const (
	// EventPut is a create or an update of a key.
	EventPut EventType = iota
	// EventDelete is the removal of a key.
	EventDelete
	// EventError ends the stream: Err says why (for example ErrCompacted).
	EventError
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the key's new value for EventPut; for EventDelete it holds the key, the value it
	// had before deletion and the revision of the deletion.
	KV KeyValue
	// Created reports, for EventPut, whether the key did not exist before this change.
	Created bool
	// PrevValue is, for an EventPut that updated an existing key, the value it had before.
	PrevValue []byte
	// Err is set for EventError.
	Err error
}

// Store is the contract every storage backend fulfils. All methods are safe for concurrent use.
type Store interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)
	// List returns the keys under prefix in key order.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Create stores value under key if the key does not exist and returns the new revision.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update replaces the value of key if its ModRevision still equals expected, and returns the
	// new revision. It returns ErrNotFound if the key is gone and ErrConflict if it changed.
	Update(ctx context.Context, key string, value []byte, expected int64) (int64, error)
	// Delete removes key if its ModRevision still equals expected (0 means any), and returns the
	// value it had and the revision of the deletion.
	Delete(ctx context.Context, key string, expected int64) (KeyValue, int64, error)
	// Watch streams every change under prefix made after revision after, in revision order,
	// until ctx is done. If after is older than the oldest kept revision, the stream carries a
	// single EventError with ErrCompacted. The channel is closed when the watch ends.
	Watch(ctx context.Context, prefix string, after int64) (<-chan Event, error)
	// Revision returns the store's current revision.
	Revision(ctx context.Context) (int64, error)
	// Compact discards history older than revision.
	Compact(ctx context.Context, revision int64) error
}
