package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/internal/storage"
)

func (s *store) Watch(ctx context.Context, prefix string, after int64) (<-chan storage.Event, error) {
	out := make(chan storage.Event)

	// etcd starts a watch at the compacted revision itself, but what it replays of that
	// revision is incomplete: a deletion comes without the value deleted. The contract wants
	// ErrCompacted whenever after is below the oldest kept revision, so a read at after asks
	// first. A future revision is fine: the watch waits for it.
	if after > 0 {
		_, err := s.client.Get(ctx, "/", clientv3.WithRev(after), clientv3.WithCountOnly())
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			go func() {
				defer close(out)
				send(ctx, out, compacted(prefix, after))
			}()
			return out, nil
		case err != nil && !errors.Is(err, rpctypes.ErrFutureRev):
			return nil, fmt.Errorf("watch %s from %d: %w", prefix, after, err)
		}
	}

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1), clientv3.WithPrevKV())
	go func() {
		defer close(out)
		defer cancel()
		for resp := range wch {
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				send(ctx, out, compacted(prefix, after))
				return
			}
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					send(ctx, out, storage.Event{Type: storage.EventError, Err: fmt.Errorf("watch %s: %w", prefix, err)})
				}
				return
			}
			for _, ev := range resp.Events {
				if !send(ctx, out, event(ev)) {
					return
				}
			}
		}
		// etcd ends a watch without an error only when it is canceled or its client closed.
		if ctx.Err() == nil {
			send(ctx, out, storage.Event{Type: storage.EventError, Err: fmt.Errorf("watch %s: store closed", prefix)})
		}
	}()
	return out, nil
}

// send delivers e unless ctx ends first, and reports whether it did.
func send(ctx context.Context, out chan<- storage.Event, e storage.Event) bool {
	select {
	case out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

func compacted(prefix string, after int64) storage.Event {
	return storage.Event{
		Type: storage.EventError,
		Err:  fmt.Errorf("watch %s from %d: %w", prefix, after, storage.ErrCompacted),
	}
}

// event converts an etcd event, read with its previous value, to a storage one.
func event(ev *clientv3.Event) storage.Event {
	if ev.Type == clientv3.EventTypeDelete {
		e := storage.Event{
			Type: storage.EventDelete,
			KV:   storage.KeyValue{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision},
		}
		// etcd reads the previous value as the watch replays; it is missing only if that
		// revision was compacted meanwhile.
		if ev.PrevKv != nil {
			e.KV.Value = ev.PrevKv.Value
		}
		return e
	}
	e := storage.Event{
		Type:    storage.EventPut,
		KV:      keyValue(ev.Kv),
		Created: ev.Kv.CreateRevision == ev.Kv.ModRevision,
	}
	if !e.Created && ev.PrevKv != nil {
		e.PrevValue = ev.PrevKv.Value
	}
	return e
}
