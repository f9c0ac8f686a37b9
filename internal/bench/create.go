package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
)

// createResult is what createPods measured.
type createResult struct {
	pods    int
	clients int
	wall    time.Duration
	latency latencies
}

func (r createResult) perSecond() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.pods) / r.wall.Seconds()
}

// createPods creates n pods in ns from the given number of concurrent clients, each
// sending protobuf over its own connection, and measures every create.
func createPods(ctx context.Context, config *rest.Config, ns string, n, clients int) (createResult, error) {
	cs, err := newClients(config, contentProtobuf, clients)
	if err != nil {
		return createResult{}, err
	}
	// One small request per client first, so that connection set-up is not measured.
	for _, c := range cs {
		if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			return createResult{}, err
		}
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		all      = make(latencies, 0, n)
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for _, c := range cs {
		pods := c.CoreV1().Pods(ns)
		wg.Go(func() {
			mine := make(latencies, 0, n/clients+1)
			defer func() {
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				_, err := pods.Create(ctx, benchPod(i), metav1.CreateOptions{})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create pod %d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t))
			}
		})
	}
	wg.Wait()
	return createResult{pods: n, clients: clients, wall: time.Since(start), latency: all}, firstErr
}

// benchPodName names the i-th pod.
func benchPodName(i int) string { return fmt.Sprintf("bench-%06d", i) }

// benchPod is a small, ordinary pod: one container with a port, an environment variable,
// requests and limits and a readiness probe. Each call returns a new object: quantities
// cache their text form, so objects encoded concurrently must not share them.
func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   benchPodName(i),
			Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 16)},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "BENCH_INDEX", Value: strconv.Itoa(i)}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("16Mi"),
					},
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds: 10,
				},
			}},
		},
	}
}
