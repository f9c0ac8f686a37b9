package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

const (
	benchServices         = 1000
	benchEndpointsPerServ = 10
)

// benchCluster is a fake API with 1,000 services of 10 endpoints each (10,000 endpoints; one
// in ten on this node, one service in four with a NodePort), and a proxier writing into a
// scratch namespace. The proxier is not running.
func benchCluster(b *testing.B) (*Proxier, *cluster, netns) {
	requireRoot(b)
	ns := newNetns(b, "bench")
	api := &cluster{client: fake.NewClientset()}
	ctx := context.Background()
	for i := range benchServices {
		s := benchService(i)
		if _, err := api.client.CoreV1().Services("bench").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := api.client.DiscoveryV1().EndpointSlices("bench").Create(ctx, benchSlice(i, -1), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(api.client, 0)
	p, err := New(testConfig, factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices())
	if err != nil {
		b.Fatal(err)
	}
	p.nft = nft{argv: []string{"ip", "netns", "exec", string(ns), "nft"}}
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, p.synced...) {
		b.Fatal("informers did not sync")
	}
	return p, api, ns
}

func benchService(i int) *v1.Service {
	s := svc(fmt.Sprintf("svc-%d", i), fmt.Sprintf("100.65.%d.%d", i/250+1, i%250+1))
	s.Namespace = "bench"
	if i%4 == 0 {
		nodePort(int32(30000+i), v1.ServiceExternalTrafficPolicyCluster)(s)
	}
	return s
}

// benchSlice is service i's slice; with moved >= 0 its first endpoint has that fresh address.
func benchSlice(i, moved int) *discovery.EndpointSlice {
	var eps []discovery.Endpoint
	for j := range benchEndpointsPerServ {
		k := i*benchEndpointsPerServ + j
		ip := benchAddr(netip.MustParseAddr("100.64.1.0"), k)
		if j == 0 && moved >= 0 {
			ip = benchAddr(netip.MustParseAddr("100.64.128.0"), moved)
		}
		node := "node-b"
		if k%10 == 0 {
			node = "node-a"
		}
		eps = append(eps, ep(ip.String(), node, "ready"))
	}
	s := endpoints(fmt.Sprintf("svc-%d", i))
	s.Namespace, s.Endpoints = "bench", eps
	return s
}

func benchAddr(base netip.Addr, n int) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// BenchmarkFullSync measures writing the whole table for 1,000 services and 10,000 endpoints:
// computing the rules and one nft transaction (what a start or a re-creation costs).
func BenchmarkFullSync(b *testing.B) {
	p, _, _ := benchCluster(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		p.state = nil
		if err := p.sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndpointChange measures, with 1,000 services and 10,000 endpoints in the table,
// the time from an EndpointSlice update in the API to the new endpoint being in the kernel's
// rules: informer delivery, computing the service's rules and the nft transaction. The end
// is the proxier's "synced" log record, written when nft has returned (polling nft instead
// would add its own 80 ms: listing reads the whole table); every change is then checked in
// the kernel, untimed. Changes are spaced beyond the batching interval so each is written on
// its own; the spacing is not timed.
func BenchmarkEndpointChange(b *testing.B) {
	p, api, ns := benchCluster(b)
	synced := make(chan struct{}, 1)
	p.log = slog.New(syncSignal{synced})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	<-synced
	waitForRule(b, ns, "svc-0", benchAddr(netip.MustParseAddr("100.64.1.0"), 0).String())

	var latencies []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		svcIdx := i * 7 % benchServices
		moved := i % 30000
		start := time.Now()
		if _, err := api.client.DiscoveryV1().EndpointSlices("bench").Update(ctx, benchSlice(svcIdx, moved), metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		<-synced
		latencies = append(latencies, time.Since(start))
		b.StopTimer()
		waitForRule(b, ns, fmt.Sprintf("svc-%d", svcIdx), benchAddr(netip.MustParseAddr("100.64.128.0"), moved).String())
		time.Sleep(minSyncInterval)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*9/10].Microseconds())/1000, "p90-ms")
}

// waitForRule polls the kernel until the service's chain names the endpoint address.
func waitForRule(b *testing.B, ns netns, svcName, addr string) {
	chain := "service-bench/" + svcName + "/tcp/http"
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", string(ns), "nft", "list", "chain", "ip", "gantry", chain).CombinedOutput()
		if strings.Contains(string(out), addr+" . 8080") {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never reached %s: %s", addr, chain, out)
		}
	}
}

// syncSignal is a log handler that signals every "synced" record of the proxier.
type syncSignal struct{ ch chan struct{} }

func (h syncSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h syncSignal) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h syncSignal) WithGroup(string) slog.Handler            { return h }
func (h syncSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "synced" {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
