package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

const (
	// seqAnnotation carries the number of a measured update.
	seqAnnotation = "bench.gantry.dev/seq"
	// warmupUpdates are sent, and waited for, before the measured ones.
	warmupUpdates = 3
	// deliveryTimeout bounds the wait for every watcher to see one update.
	deliveryTimeout = 30 * time.Second
)

// watchResult is what watchDelivery measured.
type watchResult struct {
	watchers, updates int
	// delivery is, for every update and every watcher, the time from sending the write to
	// the watcher receiving it; last is, for every update, the time until the last watcher
	// received it; write is the time until the write itself was acknowledged.
	delivery, last, write latencies
}

// watchDelivery opens watchers watches on the pods of ns, each over its own connection,
// then patches the pod named name updates times, one at a time, each time waiting until
// every watcher has seen the change, and measures how long that took.
func watchDelivery(ctx context.Context, config *rest.Config, ns, name string, watchers, updates int) (watchResult, error) {
	res := watchResult{watchers: watchers, updates: updates}
	writer, err := newClient(config, "")
	if err != nil {
		return res, err
	}
	pods := writer.CoreV1().Pods(ns)
	// Watch from now: the watchers get no initial events, only the updates.
	list, err := pods.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return res, err
	}
	clients, err := newClients(config, "", watchers)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	total := warmupUpdates + updates
	// seen[i] receives every watcher's receipt of update i.
	seen := make([]chan time.Time, total)
	for i := range seen {
		seen[i] = make(chan time.Time, watchers)
	}
	var ended atomic.Int32
	ws := make([]watch.Interface, 0, watchers)
	defer func() {
		for _, w := range ws {
			w.Stop()
		}
	}()
	for _, c := range clients {
		w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			return res, fmt.Errorf("start watch %d: %w", len(ws), err)
		}
		ws = append(ws, w)
		go func() {
			last := -1 // each update counts once per watcher
			for ev := range w.ResultChan() {
				at := time.Now()
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type != watch.Modified {
					continue
				}
				if seq, err := strconv.Atoi(pod.Annotations[seqAnnotation]); err == nil && seq > last && seq < total {
					last = seq
					seen[seq] <- at
				}
			}
			if ctx.Err() == nil {
				ended.Add(1)
			}
		}()
	}

	for seq := range total {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, seqAnnotation, strconv.Itoa(seq))
		sent := time.Now()
		if _, err := pods.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return res, fmt.Errorf("update %d: %w", seq, err)
		}
		acked := time.Since(sent)
		timeout := time.NewTimer(deliveryTimeout)
		var got latencies
		for len(got) < watchers {
			select {
			case at := <-seen[seq]:
				got = append(got, at.Sub(sent))
			case <-timeout.C:
				return res, fmt.Errorf("update %d: %d of %d watchers saw it within %v (%d watches ended early)", seq, len(got), watchers, deliveryTimeout, ended.Load())
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		timeout.Stop()
		if seq < warmupUpdates {
			continue
		}
		res.write = append(res.write, acked)
		res.delivery = append(res.delivery, got...)
		res.last = append(res.last, got.percentile(100))
	}
	if n := ended.Load(); n > 0 {
		return res, errors.New(strconv.Itoa(int(n)) + " watches ended before the measurement did")
	}
	return res, nil
}
