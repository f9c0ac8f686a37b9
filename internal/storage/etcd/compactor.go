package etcd

import (
	"context"
	"time"
)

// runCompactor compacts history every interval to the revision the store had one interval
// earlier, as kube-apiserver's compactor does: a watcher or a paged list that is less than one
// interval behind can always resume. It returns when ctx ends.
func (s *Server) runCompactor(ctx context.Context, interval time.Duration, compacted func(int64)) {
	defer close(s.compactorDone)
	t := time.NewTicker(interval)
	defer t.Stop()

	// seen is the revision observed at the previous tick; done the last compaction.
	var seen, done int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if seen > done {
			if err := s.store.Compact(ctx, seen); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("compact etcd", "revision", seen, "err", err)
			} else {
				done = seen
				s.log.Debug("compacted etcd", "revision", seen)
				if compacted != nil {
					compacted(seen)
				}
			}
		}
		rev, err := s.store.Revision(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("read etcd revision for compaction", "err", err)
			continue
		}
		seen = rev
	}
}
