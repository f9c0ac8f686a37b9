package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/internal/storage"
)

// Delete returns the deleted KeyValue as it was (its ModRevision is that of its last change)
// and, separately, the revision of the deletion.
func (s *store) Delete(ctx context.Context, key string, expected int64) (storage.KeyValue, int64, error) {
	del := clientv3.OpDelete(key, clientv3.WithPrevKV())
	if expected == 0 {
		resp, err := s.client.Do(ctx, del)
		if err != nil {
			return storage.KeyValue{}, 0, fmt.Errorf("delete %s: %w", key, err)
		}
		d := resp.Del()
		if len(d.PrevKvs) == 0 {
			return storage.KeyValue{}, 0, fmt.Errorf("delete %s: %w", key, storage.ErrNotFound)
		}
		return keyValue(d.PrevKvs[0]), d.Header.Revision, nil
	}

	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expected)).
		Then(del).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %s: %w", key, missingOrConflict(resp))
	}
	d := resp.Responses[0].GetResponseDeleteRange()
	return keyValue(d.PrevKvs[0]), resp.Header.Revision, nil
}
