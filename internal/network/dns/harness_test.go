package dns

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// harness is a Server fed by a fake clientset through real shared informers, listening on
// loopback UDP and TCP.
type harness struct {
	client  *fake.Clientset
	srv     *Server
	udpAddr string
	tcpAddr string
}

func startServer(tb testing.TB, upstreams []string, objs ...runtime.Object) *harness {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	srv, err := New(Config{ClusterDomain: "cluster.local", Upstreams: upstreams, Logger: testLogger(tb)},
		factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices())
	if err != nil {
		tb.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	eventually(tb, "event handlers to sync", srv.synced)

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(ctx, udp, tcp) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ServeConn: %v", err)
		}
		factory.Shutdown()
	})
	return &harness{client: client, srv: srv, udpAddr: udp.LocalAddr().String(), tcpAddr: tcp.Addr().String()}
}

// query asks the server over proto ("udp" or "tcp") as a stub resolver would.
func (h *harness) query(tb testing.TB, proto, name string, qtype uint16) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return h.exchange(tb, proto, m)
}

func (h *harness) exchange(tb testing.TB, proto string, m *dns.Msg) *dns.Msg {
	tb.Helper()
	addr := h.udpAddr
	if proto == "tcp" {
		addr = h.tcpAddr
	}
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		tb.Fatalf("%s query %s: %v", proto, m.Question[0].String(), err)
	}
	return resp
}

// eventually polls cond until it holds: informer events arrive asynchronously.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rrStrings renders records without their TTLs, sorted, for comparison.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	sortUnique(&out)
	return out
}

func testLogger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tbWriter routes logs to the test, and drops those written after it ended.
type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// fakeUpstream is a DNS server on loopback answering from a table, and counting the
// questions it got per name and transport.
type fakeUpstream struct {
	addr string

	mu    sync.Mutex
	asked map[string]int // "udp example.com." → count
}

// upstreamZone is what fakeUpstream knows. Its addresses are documentation ranges: only data,
// nothing is ever sent to them.
var upstreamZone = map[string][]string{
	"example.com. A":              {"example.com. 60 IN A 192.0.2.1"},
	"example.com. MX":             {"example.com. 60 IN MX 10 mail.example.com."},
	"target.example. A":           {"target.example. 60 IN A 192.0.2.7"},
	"1.2.0.192.in-addr.arpa. PTR": {"1.2.0.192.in-addr.arpa. 60 IN PTR example.com."},
}

func startUpstream(tb testing.TB) *fakeUpstream {
	tb.Helper()
	u := &fakeUpstream{asked: map[string]int{}}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		proto := w.RemoteAddr().Network()
		u.mu.Lock()
		u.asked[proto+" "+strings.ToLower(q.Name)]++
		u.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(req)
		name := strings.ToLower(q.Name)
		switch {
		case name == "servfail.example.":
			m.Rcode = dns.RcodeServerFailure
		case name == "big.example.":
			for i := range 100 {
				rr, _ := dns.NewRR(name + " 60 IN A 192.0.2." + strconv.Itoa(i))
				m.Answer = append(m.Answer, rr)
			}
		default:
			for _, s := range upstreamZone[name+" "+dns.TypeToString[q.Qtype]] {
				rr, err := dns.NewRR(s)
				if err != nil {
					panic(err)
				}
				m.Answer = append(m.Answer, rr)
			}
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
				soa, _ := dns.NewRR("example. 60 IN SOA ns.example. hostmaster.example. 1 7200 1800 86400 30")
				m.Ns = append(m.Ns, soa)
			}
		}
		if proto == "udp" {
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		tb.Fatal(err)
	}
	udpSrv := &dns.Server{PacketConn: pc, Handler: handler}
	tcpSrv := &dns.Server{Listener: ln, Handler: handler}
	go udpSrv.ActivateAndServe()
	go tcpSrv.ActivateAndServe()
	tb.Cleanup(func() {
		udpSrv.Shutdown()
		tcpSrv.Shutdown()
	})
	u.addr = pc.LocalAddr().String()
	return u
}

func (u *fakeUpstream) count(proto, name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.asked[proto+" "+name]
}

// deadAddr is a loopback UDP address nothing listens on.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// Fixtures.

func svc(ns, name string, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	mutate(s)
	return s
}

func slice(ns, name, service string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: family,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func ep(addr, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

func epPort(name string, port int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto}
}
