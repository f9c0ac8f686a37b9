package dns

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// TestUpdates follows the cluster's objects as they change.
func TestUpdates(t *testing.T) {
	tcp := corev1.ProtocolTCP
	pg := []discoveryv1.EndpointPort{epPort("pg", 5432, tcp)}
	h := startServer(t, []string{deadAddr(t)}, clusterObjects()...)
	ctx := context.Background()
	rcode := func(name string, qtype uint16) int { return h.query(t, "udp", name, qtype).Rcode }
	answers := func(name string, qtype uint16) int { return len(h.query(t, "udp", name, qtype).Answer) }

	t.Run("service deleted: NXDOMAIN, and its namespace with it", func(t *testing.T) {
		if err := h.client.CoreV1().Services("other").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "web.other to go", func() bool { return rcode("web.other.svc.cluster.local.", dns.TypeA) == dns.RcodeNameError })
		if got := rcode("_http._tcp.web.other.svc.cluster.local.", dns.TypeSRV); got != dns.RcodeNameError {
			t.Errorf("SRV of a deleted service: %s", dns.RcodeToString[got])
		}
		if got := rcode("other.svc.cluster.local.", dns.TypeA); got != dns.RcodeNameError {
			t.Errorf("namespace without services left: %s", dns.RcodeToString[got])
		}
		if got := h.query(t, "udp", "30.0.65.100.in-addr.arpa.", dns.TypePTR).Rcode; got != dns.RcodeServerFailure {
			// no longer the cluster's: forwarded, and the only upstream is down
			t.Errorf("PTR of a deleted service's IP: %s", dns.RcodeToString[got])
		}
	})

	t.Run("endpoint becomes ready: it appears", func(t *testing.T) {
		s := slice("default", "db-v4", "db", discoveryv1.AddressTypeIPv4, pg,
			ep("100.64.0.5", "db-0", true), ep("100.64.0.6", "db-1", true), ep("100.64.0.7", "", true), ep("100.64.0.8", "db-3", true))
		if _, err := h.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "db-3 to appear", func() bool { return answers("db-3.db.default.svc.cluster.local.", dns.TypeA) == 1 })
		if got := answers("db.default.svc.cluster.local.", dns.TypeA); got != 4 {
			t.Errorf("headless service answers %d addresses, want 4", got)
		}
		if got := answers("_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV); got != 4 {
			t.Errorf("headless service answers %d SRV records, want 4", got)
		}
	})

	t.Run("endpoints become not ready: the headless service goes", func(t *testing.T) {
		s := slice("default", "db-v4", "db", discoveryv1.AddressTypeIPv4, pg, ep("100.64.0.5", "db-0", false))
		if _, err := h.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := h.client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "db-v6", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "db to go", func() bool { return rcode("db.default.svc.cluster.local.", dns.TypeA) == dns.RcodeNameError })
		if got := rcode("db-0.db.default.svc.cluster.local.", dns.TypeAAAA); got != dns.RcodeNameError {
			t.Errorf("endpoint of a deleted slice: %s", dns.RcodeToString[got])
		}
	})

	t.Run("service created and its cluster IP changed", func(t *testing.T) {
		s := svc("new", "api", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.40", []string{"100.65.0.40"}
		})
		if _, err := h.client.CoreV1().Services("new").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "api to appear", func() bool { return answers("api.new.svc.cluster.local.", dns.TypeA) == 1 })
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.41", []string{"100.65.0.41"}
		if _, err := h.client.CoreV1().Services("new").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "api to move", func() bool {
			resp := h.query(t, "udp", "api.new.svc.cluster.local.", dns.TypeA)
			return len(resp.Answer) == 1 && resp.Answer[0].(*dns.A).A.String() == "100.65.0.41"
		})
		if got := answers("41.0.65.100.in-addr.arpa.", dns.TypePTR); got != 1 {
			t.Errorf("PTR of the new cluster IP: %d answers", got)
		}
	})

	t.Run("slice moved to another service", func(t *testing.T) {
		s := slice("default", "pub-1", "db", discoveryv1.AddressTypeIPv4, pg, ep("100.64.0.9", "db-9", true))
		if _, err := h.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "db-9 to appear", func() bool { return answers("db-9.db.default.svc.cluster.local.", dns.TypeA) == 1 })
		if got := rcode("pub.default.svc.cluster.local.", dns.TypeA); got != dns.RcodeNameError {
			t.Errorf("service that lost its slice: %s", dns.RcodeToString[got])
		}
	})
}

// TestNotSynced: until the informers have synced, a miss could be a name not seen yet.
func TestNotSynced(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0) // never started
	s, err := New(Config{ClusterDomain: "cluster.local", Upstreams: []string{deadAddr(t)}, Logger: testLogger(t)},
		factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices())
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	raw, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(s.respond(context.Background(), raw, true)); err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s before sync, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}
