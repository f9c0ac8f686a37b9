package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/internal/storage"
)

func (s *store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	// The range [start, end) holds the keys under prefix that sort after opts.After. etcd
	// returns them in key order and counts all of them, whatever the limit, in Count.
	start := prefix
	if after := opts.After + "\x00"; opts.After != "" && after > start {
		start = after
	}
	if start == "" {
		start = "\x00" // the empty prefix: every key
	}
	// For the empty prefix this is "\x00", which etcd reads as "every key from start on".
	end := clientv3.GetPrefixRangeEnd(prefix)
	ops := []clientv3.OpOption{clientv3.WithRange(end)}
	if opts.Revision > 0 {
		ops = append(ops, clientv3.WithRev(opts.Revision))
	}
	if opts.Limit > 0 {
		ops = append(ops, clientv3.WithLimit(opts.Limit))
	}

	resp, err := s.client.Get(ctx, start, ops...)
	if err != nil {
		if opts.Revision > 0 {
			return storage.ListResult{}, fmt.Errorf("list %s at revision %d: %w", prefix, opts.Revision, revisionError(err))
		}
		return storage.ListResult{}, fmt.Errorf("list %s: %w", prefix, err)
	}

	res := storage.ListResult{
		Items:    make([]storage.KeyValue, len(resp.Kvs)),
		Revision: resp.Header.Revision, // the current revision, which a latest read is at
		More:     resp.More,
	}
	if opts.Revision > 0 {
		res.Revision = opts.Revision
	}
	for i, kv := range resp.Kvs {
		res.Items[i] = keyValue(kv)
	}
	if res.More {
		res.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return res, nil
}
