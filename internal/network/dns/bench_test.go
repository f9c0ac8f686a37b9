package dns

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkQuery measures the server as pods use it: parallel clients over loopback UDP
// asking for 1,000 Services (and 100 headless ones of 3 endpoints), each name once as a hit
// and once as the search-path miss a resolver with ndots:5 tries first.
func BenchmarkQuery(b *testing.B) {
	var objs []runtime.Object
	var queries [][]byte
	pack := func(name string, qtype uint16) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		raw, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		queries = append(queries, raw)
	}
	for i := range 1000 {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc%d", i)
		objs = append(objs, svc(ns, name, func(s *corev1.Service) {
			ip := fmt.Sprintf("100.65.%d.%d", i/250, i%250+1)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip}
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}
		}))
		pack(name+"."+ns+".svc.cluster.local.", dns.TypeA)
		pack(name+"."+ns+".svc.cluster.local."+ns+".svc.cluster.local.", dns.TypeA)
	}
	for i := range 100 {
		name := fmt.Sprintf("headless%d", i)
		objs = append(objs, svc("db", name, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }))
		var eps []discoveryv1.Endpoint
		for j := range 3 {
			eps = append(eps, ep(fmt.Sprintf("100.64.%d.%d", i, j+1), fmt.Sprintf("%s-%d", name, j), true))
		}
		objs = append(objs, slice("db", name+"-1", name, discoveryv1.AddressTypeIPv4, nil, eps...))
		pack(name+".db.svc.cluster.local.", dns.TypeA)
	}
	h := startServer(b, []string{deadAddr(b)}, objs...)

	var mu sync.Mutex
	var latencies []time.Duration
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", h.udpAddr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 65535)
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			q := queries[(i*7919)%len(queries)]
			start := time.Now()
			if _, err := conn.Write(q); err != nil {
				b.Error(err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Read(buf); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
}
