package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/internal/storage"
)

// store implements storage.Store with an etcd client. Each method is one etcd request (a
// transaction where the contract needs a condition), so etcd's serializability is the Store's.
type store struct {
	client *clientv3.Client
}

var _ storage.Store = (*store)(nil)

func (s *store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return storage.KeyValue{}, fmt.Errorf("get %s: %w", key, revisionError(err))
	}
	if len(resp.Kvs) == 0 {
		return storage.KeyValue{}, fmt.Errorf("get %s: %w", key, storage.ErrNotFound)
	}
	return keyValue(resp.Kvs[0]), nil
}

func (s *store) Revision(ctx context.Context) (int64, error) {
	// Any linearizable read reports the current revision in its header; a count of one key is
	// the cheapest.
	resp, err := s.client.Get(ctx, "/", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("get revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Compact discards history older than revision. Compacting to a revision at or below an
// earlier compaction does nothing.
func (s *store) Compact(ctx context.Context, revision int64) error {
	_, err := s.client.Compact(ctx, revision)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compact to %d: %w", revision, revisionError(err))
	}
	return nil
}

// revisionError translates etcd's errors about revisions into the storage ones and passes
// others through.
func revisionError(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return storage.ErrCompacted
	case errors.Is(err, rpctypes.ErrFutureRev):
		return storage.ErrFutureRevision
	}
	return err
}

func keyValue(kv *mvccpb.KeyValue) storage.KeyValue {
	return storage.KeyValue{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
}
