package etcd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gantryhq/gantry/internal/storage"
)

// BenchmarkCreate measures creates of 2 KiB values by 8 concurrent writers, through the
// in-process client the Store uses and, for comparison, through a gRPC client on the socket.
func BenchmarkCreate(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		benchmarkCreate(b, startServer(b, Config{DataDir: testDir(b), CompactInterval: -1}).Store())
	})
	b.Run("socket", func(b *testing.B) {
		srv := startServer(b, Config{DataDir: testDir(b), CompactInterval: -1})
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{srv.ClientURL()},
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		benchmarkCreate(b, &store{client: c})
	})
}

func benchmarkCreate(b *testing.B, s storage.Store) {
	const writers = 8
	value := make([]byte, 2048)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := s.Create(ctx, fmt.Sprintf("/bench/%09d", i), value); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
