package dns

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func clusterObjects() []runtime.Object {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	pg := []discoveryv1.EndpointPort{epPort("pg", 5432, tcp)}
	return []runtime.Object{
		svc("default", "web", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.20", []string{"100.65.0.20"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: tcp}, {Name: "dns", Port: 53, Protocol: udp}}
		}),
		svc("other", "web", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.30", []string{"100.65.0.30"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: tcp}}
		}),
		svc("default", "dual", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.21", []string{"100.65.0.21", "fd00:65::21"}
			s.Spec.Ports = []corev1.ServicePort{{Port: 443, Protocol: tcp}}
		}),
		svc("default", "db", func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.Ports = []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: tcp}}
		}),
		slice("default", "db-v4", "db", discoveryv1.AddressTypeIPv4, pg,
			ep("100.64.0.5", "db-0", true), ep("100.64.0.6", "db-1", true), ep("100.64.0.7", "", true), ep("100.64.0.8", "db-3", false)),
		slice("default", "db-v6", "db", discoveryv1.AddressTypeIPv6, pg, ep("fd00:64::5", "db-0", true)),
		svc("default", "pub", func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.PublishNotReadyAddresses = true
		}),
		slice("default", "pub-1", "pub", discoveryv1.AddressTypeIPv4, nil, ep("100.64.0.9", "", false)),
		svc("default", "empty", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		svc("default", "ext", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "Target.Example"
		}),
		svc("default", "alias", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "web.default.svc.cluster.local"
		}),
	}
}

func TestRecords(t *testing.T) {
	up := startUpstream(t)
	h := startServer(t, []string{up.addr}, clusterObjects()...)

	const (
		web = "web.default.svc.cluster.local."
		db  = "db.default.svc.cluster.local."
	)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		extra  []string
		local  bool // answered by the cluster zone: authoritative, SOA with negative answers
	}{
		{name: "cluster IP", qname: web, qtype: dns.TypeA, local: true,
			answer: []string{web + " 0 IN A 100.65.0.20"}},
		{name: "case-insensitive, echoing the case asked", qname: "WEB.Default.SVC.cluster.LOCAL.", qtype: dns.TypeA, local: true,
			answer: []string{"WEB.Default.SVC.cluster.LOCAL. 0 IN A 100.65.0.20"}},
		{name: "other namespace", qname: "web.other.svc.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"web.other.svc.cluster.local. 0 IN A 100.65.0.30"}},
		{name: "IPv4 service has no AAAA: NODATA", qname: web, qtype: dns.TypeAAAA, local: true},
		{name: "dual-stack A", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"dual.default.svc.cluster.local. 0 IN A 100.65.0.21"}},
		{name: "dual-stack AAAA", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeAAAA, local: true,
			answer: []string{"dual.default.svc.cluster.local. 0 IN AAAA fd00:65::21"}},
		{name: "headless: ready endpoints only", qname: db, qtype: dns.TypeA, local: true,
			answer: []string{db + " 0 IN A 100.64.0.5", db + " 0 IN A 100.64.0.6", db + " 0 IN A 100.64.0.7"}},
		{name: "headless AAAA", qname: db, qtype: dns.TypeAAAA, local: true,
			answer: []string{db + " 0 IN AAAA fd00:64::5"}},
		{name: "endpoint hostname", qname: "db-0." + db, qtype: dns.TypeA, local: true,
			answer: []string{"db-0." + db + " 0 IN A 100.64.0.5"}},
		{name: "endpoint hostname AAAA", qname: "db-0." + db, qtype: dns.TypeAAAA, local: true,
			answer: []string{"db-0." + db + " 0 IN AAAA fd00:64::5"}},
		{name: "endpoint without hostname by dashed address", qname: "100-64-0-7." + db, qtype: dns.TypeA, local: true,
			answer: []string{"100-64-0-7." + db + " 0 IN A 100.64.0.7"}},
		{name: "not-ready endpoint does not exist", qname: "db-3." + db, qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "publishNotReadyAddresses", qname: "pub.default.svc.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"pub.default.svc.cluster.local. 0 IN A 100.64.0.9"}},
		{name: "headless without endpoints: NXDOMAIN", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "SRV named port", qname: "_http._tcp." + web, qtype: dns.TypeSRV, local: true,
			answer: []string{"_http._tcp." + web + " 0 IN SRV 0 100 80 " + web},
			extra:  []string{web + " 0 IN A 100.65.0.20"}},
		{name: "SRV udp port", qname: "_dns._udp." + web, qtype: dns.TypeSRV, local: true,
			answer: []string{"_dns._udp." + web + " 0 IN SRV 0 100 53 " + web},
			extra:  []string{web + " 0 IN A 100.65.0.20"}},
		{name: "SRV wrong protocol", qname: "_http._udp." + web, qtype: dns.TypeSRV, local: true, rcode: dns.RcodeNameError},
		{name: "SRV at the service name: every port", qname: web, qtype: dns.TypeSRV, local: true,
			answer: []string{web + " 0 IN SRV 0 50 53 " + web, web + " 0 IN SRV 0 50 80 " + web},
			extra:  []string{web + " 0 IN A 100.65.0.20"}},
		{name: "SRV headless: one per endpoint", qname: "_pg._tcp." + db, qtype: dns.TypeSRV, local: true,
			answer: []string{
				"_pg._tcp." + db + " 0 IN SRV 0 33 5432 100-64-0-7." + db,
				"_pg._tcp." + db + " 0 IN SRV 0 33 5432 db-0." + db,
				"_pg._tcp." + db + " 0 IN SRV 0 33 5432 db-1." + db,
			},
			extra: []string{
				"100-64-0-7." + db + " 0 IN A 100.64.0.7",
				"db-0." + db + " 0 IN A 100.64.0.5",
				"db-0." + db + " 0 IN AAAA fd00:64::5",
				"db-1." + db + " 0 IN A 100.64.0.6",
			}},
		{name: "protocol label alone is an empty non-terminal", qname: "_tcp." + web, qtype: dns.TypeA, local: true},
		{name: "ExternalName CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME, local: true,
			answer: []string{"ext.default.svc.cluster.local. 0 IN CNAME target.example."}},
		{name: "ExternalName A resolves the target upstream", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"ext.default.svc.cluster.local. 0 IN CNAME target.example.", "target.example. 0 IN A 192.0.2.7"}},
		{name: "ExternalName inside the zone is followed", qname: "alias.default.svc.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"alias.default.svc.cluster.local. 0 IN CNAME " + web, web + " 0 IN A 100.65.0.20"}},
		{name: "pod A", qname: "100-64-1-2.default.pod.cluster.local.", qtype: dns.TypeA, local: true,
			answer: []string{"100-64-1-2.default.pod.cluster.local. 0 IN A 100.64.1.2"}},
		{name: "pod IPv4 has no AAAA", qname: "100-64-1-2.default.pod.cluster.local.", qtype: dns.TypeAAAA, local: true},
		{name: "pod AAAA", qname: "fd00--1.default.pod.cluster.local.", qtype: dns.TypeAAAA, local: true,
			answer: []string{"fd00--1.default.pod.cluster.local. 0 IN AAAA fd00::1"}},
		{name: "pod name that is no address", qname: "not-an-ip.default.pod.cluster.local.", qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "pod namespace exists", qname: "default.pod.cluster.local.", qtype: dns.TypeA, local: true},
		{name: "namespace with services exists", qname: "default.svc.cluster.local.", qtype: dns.TypeA, local: true},
		{name: "namespace without services", qname: "nobody.svc.cluster.local.", qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "missing service", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "search path miss", qname: "web.default.svc.cluster.local.default.svc.cluster.local.", qtype: dns.TypeA, local: true, rcode: dns.RcodeNameError},
		{name: "search path miss of a short name", qname: "web.default.svc.cluster.local.svc.cluster.local.", qtype: dns.TypeAAAA, local: true, rcode: dns.RcodeNameError},
		{name: "apex SOA", qname: "cluster.local.", qtype: dns.TypeSOA, local: true,
			answer: []string{"cluster.local. 0 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5"}},
		{name: "apex NS", qname: "cluster.local.", qtype: dns.TypeNS, local: true,
			answer: []string{"cluster.local. 0 IN NS ns.dns.cluster.local."}},
		{name: "schema version", qname: "dns-version.cluster.local.", qtype: dns.TypeTXT, local: true,
			answer: []string{`dns-version.cluster.local. 0 IN TXT "1.1.0"`}},
		{name: "PTR of a cluster IP", qname: "20.0.65.100.in-addr.arpa.", qtype: dns.TypePTR, local: true,
			answer: []string{"20.0.65.100.in-addr.arpa. 0 IN PTR " + web}},
		{name: "PTR of an IPv6 cluster IP", qname: mustReverse(t, "fd00:65::21"), qtype: dns.TypePTR, local: true,
			answer: []string{mustReverse(t, "fd00:65::21") + " 0 IN PTR dual.default.svc.cluster.local."}},
		{name: "PTR of a headless endpoint", qname: "5.0.64.100.in-addr.arpa.", qtype: dns.TypePTR, local: true,
			answer: []string{"5.0.64.100.in-addr.arpa. 0 IN PTR db-0." + db}},
		{name: "PTR of a headless endpoint without hostname", qname: "7.0.64.100.in-addr.arpa.", qtype: dns.TypePTR, local: true,
			answer: []string{"7.0.64.100.in-addr.arpa. 0 IN PTR 100-64-0-7." + db}},
		{name: "PTR of another address is forwarded", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"1.2.0.192.in-addr.arpa. 0 IN PTR example.com."}},
		{name: "forwarded A", qname: "example.com.", qtype: dns.TypeA,
			answer: []string{"example.com. 0 IN A 192.0.2.1"}},
		{name: "forwarded MX", qname: "example.com.", qtype: dns.TypeMX,
			answer: []string{"example.com. 0 IN MX 10 mail.example.com."}},
		{name: "forwarded NXDOMAIN", qname: "nx.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	}
	for _, tt := range tests {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				resp := h.query(t, proto, tt.qname, tt.qtype)
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode], resp)
				}
				got := rrStrings(resp.Answer)
				if len(resp.Answer) > 0 { // the serial changes with the zone
					if soa, ok := resp.Answer[0].(*dns.SOA); ok {
						got[0] = strings.Replace(got[0], " "+strconv.FormatUint(uint64(soa.Serial), 10)+" ", " SERIAL ", 1)
					}
				}
				if !slices.Equal(got, sorted(tt.answer)) {
					t.Errorf("answer\n got %q\nwant %q", got, sorted(tt.answer))
				}
				if got := rrStrings(resp.Extra); !slices.Equal(got, sorted(tt.extra)) {
					t.Errorf("additional\n got %q\nwant %q", got, sorted(tt.extra))
				}
				if !resp.RecursionAvailable {
					t.Error("RA not set")
				}
				if !tt.local {
					return
				}
				if !resp.Authoritative {
					t.Error("answer from the cluster zone is not authoritative")
				}
				for _, rr := range resp.Answer {
					if rr.Header().Name != tt.qname && !dns.IsSubDomain("cluster.local.", rr.Header().Name) {
						continue // resolved upstream, with the upstream's TTL
					}
					if rr.Header().Ttl != defaultTTL {
						t.Errorf("TTL %d, want %d: %v", rr.Header().Ttl, defaultTTL, rr)
					}
				}
				if len(tt.answer) == 0 {
					if len(resp.Ns) != 1 {
						t.Fatalf("negative answer without SOA: %v", resp)
					}
					soa, ok := resp.Ns[0].(*dns.SOA)
					if !ok || soa.Hdr.Name != "cluster.local." || soa.Minttl != defaultTTL || soa.Hdr.Ttl != defaultTTL {
						t.Errorf("authority %v, want the zone's SOA with minimum %d", resp.Ns[0], defaultTTL)
					}
				}
			})
		}
	}
}

func mustReverse(t *testing.T, ip string) string {
	t.Helper()
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sortUnique(&s)
	return s
}
