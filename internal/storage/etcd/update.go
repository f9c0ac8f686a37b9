package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/internal/storage"
)

func (s *store) Update(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(
			// An absent key has ModRevision 0: without the first comparison, Update(key, v, 0)
			// would create it.
			clientv3.Compare(clientv3.CreateRevision(key), ">", 0),
			clientv3.Compare(clientv3.ModRevision(key), "=", expected),
		).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("update %s: %w", key, missingOrConflict(resp))
	}
	return resp.Header.Revision, nil
}

// missingOrConflict tells, from the Get in the Else branch of a failed conditional write,
// whether the key was gone or had changed.
func missingOrConflict(resp *clientv3.TxnResponse) error {
	if resp.Responses[0].GetResponseRange().Count == 0 {
		return storage.ErrNotFound
	}
	return storage.ErrConflict
}
