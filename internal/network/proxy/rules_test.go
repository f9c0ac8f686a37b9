package proxy

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testConfig = Config{
	NodeName:    "node-a",
	ClusterCIDR: netip.MustParsePrefix("100.64.0.0/16"),
	ServiceCIDR: netip.MustParsePrefix("100.65.0.0/16"),
	Table:       "gantry",
	NodeLocal:   []netip.Addr{netip.MustParseAddr("100.65.0.10")},
}

// service returns a ClusterIP service web/ns with port http 80 → target "web", changed by mods.
func service(mods ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  "100.65.0.20",
			ClusterIPs: []string{"100.65.0.20"},
			Ports: []v1.ServicePort{{
				Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web"),
			}},
			SessionAffinity:       v1.ServiceAffinityNone,
			ExternalTrafficPolicy: "",
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func nodePort(port int32, policy v1.ServiceExternalTrafficPolicy) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = port
		s.Spec.ExternalTrafficPolicy = policy
	}
}

// ep is an endpoint on a node; state is "ready", "notready", "terminating" (serving) or
// "gone" (terminating, not serving).
func ep(ip, node, state string) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}, NodeName: ptr.To(node)}
	switch state {
	case "ready":
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
	case "notready":
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
	case "terminating":
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	case "gone":
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
	}
	return e
}

// slice is an IPv4 slice of service ns/web with one TCP port "http" → port.
func slice(name string, port int32, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To(port)}},
		Endpoints:   eps,
	}
}

// fullScript is what a full sync of these services writes after the fixed part of the table.
func fullScript(t *testing.T, cfg Config, svc *v1.Service, slices ...*discovery.EndpointSlice) string {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := computeService(&cfg, svc, slices)
	return newTableState(cfg.Table).plan(map[types.NamespacedName]*serviceRules{{Namespace: "ns", Name: "web"}: r}, testTime)
}

// golden compares got with testdata/name.nft (written with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".nft")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("rules differ from %s\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// ruleCases are the behaviours of computeService, each checked against a golden file.
var ruleCases = []struct {
	name   string
	svc    *v1.Service
	slices []*discovery.EndpointSlice
}{
	{"clusterip-two-ready", service(), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready"), ep("100.64.2.4", "node-b", "notready")),
	}},
	{"clusterip-one-ready", service(), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready"), ep("100.64.2.4", "node-b", "terminating")),
	}},
	{"terminating-fallback", service(), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "terminating"), ep("100.64.2.4", "node-b", "gone"), ep("100.64.2.5", "node-b", "notready")),
	}},
	{"no-endpoints-rejects", service(nodePort(30080, v1.ServiceExternalTrafficPolicyCluster)), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.4", "node-b", "gone"), ep("100.64.2.5", "node-b", "notready")),
	}},
	{"no-slices-rejects", service(), nil},
	{"named-ports-multi-protocol", service(func(s *v1.Service) {
		s.Spec.Ports = []v1.ServicePort{
			{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromString("dns")},
			{Name: "dns-tcp", Protocol: v1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(5353)},
			{Name: "assoc", Protocol: v1.ProtocolSCTP, Port: 9000, TargetPort: intstr.FromInt32(9000)},
		}
	}), []*discovery.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1"},
		AddressType: discovery.AddressTypeIPv4,
		Ports: []discovery.EndpointPort{
			{Name: ptr.To("dns"), Protocol: ptr.To(v1.ProtocolUDP), Port: ptr.To(int32(5300))},
			{Name: ptr.To("dns-tcp"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To(int32(5353))},
			{Name: ptr.To("assoc"), Protocol: ptr.To(v1.ProtocolSCTP), Port: ptr.To(int32(9000))},
		},
		Endpoints: []discovery.Endpoint{ep("100.64.2.3", "node-b", "ready")},
	}}},
	{"duplicates-and-ipv6-ignored", service(func(s *v1.Service) {
		s.Spec.ClusterIPs = []string{"fd00::20", "100.65.0.20"}
	}), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready")),
		slice("web-2", 8080, ep("100.64.2.3", "node-b", "notready"), ep("100.64.2.4", "node-b", "ready")),
		func() *discovery.EndpointSlice {
			s := slice("web-v6", 8080, ep("fd00::3", "node-b", "ready"))
			s.AddressType = discovery.AddressTypeIPv6
			return s
		}(),
	}},
	{"nodeport-cluster-policy", service(nodePort(30080, v1.ServiceExternalTrafficPolicyCluster)), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready")),
	}},
	{"nodeport-local-policy", service(nodePort(30080, v1.ServiceExternalTrafficPolicyLocal)), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready")),
	}},
	{"nodeport-local-policy-no-local-endpoint", service(nodePort(30080, v1.ServiceExternalTrafficPolicyLocal)), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready")),
	}},
	{"external-and-loadbalancer-ips", service(nodePort(30080, v1.ServiceExternalTrafficPolicyCluster), func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.ExternalIPs = []string{"100.66.0.50", "fd00::50"}
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{
			{IP: "100.66.0.60"},
			{IP: "100.66.0.61", IPMode: ptr.To(v1.LoadBalancerIPModeProxy)},
			{Hostname: "lb.example"},
		}
	}), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready")),
	}},
	{"external-ips-no-endpoints", service(func(s *v1.Service) {
		s.Spec.ExternalIPs = []string{"100.66.0.50"}
	}), nil},
	{"session-affinity", service(func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}}
	}), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready")),
	}},
	{"internal-local-policy", service(func(s *v1.Service) {
		s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
	}), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready")),
	}},
	{"internal-local-policy-no-local-endpoint", service(func(s *v1.Service) {
		s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
	}), []*discovery.EndpointSlice{
		slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready")),
	}},
	{"node-local-cluster-ip", service(func(s *v1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.10", []string{"100.65.0.10"}
	}), nil},
	{"unnamed-port", service(func(s *v1.Service) {
		s.Spec.Ports[0].Name = ""
	}), []*discovery.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1"},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Port: ptr.To(int32(8080))}},
		Endpoints:   []discovery.Endpoint{ep("100.64.2.3", "node-b", "ready")},
	}}},
}

func TestComputeService(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, fullScript(t, testConfig, tc.svc, tc.slices...))
		})
	}
}

// Services that must get no rules at all.
func TestComputeServiceNoRules(t *testing.T) {
	eps := []*discovery.EndpointSlice{slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready"))}
	for name, svc := range map[string]*v1.Service{
		"headless": service(func(s *v1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ClusterIPNone, []string{v1.ClusterIPNone}
		}),
		"external-name": service(func(s *v1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ServiceTypeExternalName, "db.example", "", nil
		}),
		"other-proxy": service(func(s *v1.Service) { s.Labels = map[string]string{serviceProxyNameLabel: "other"} }),
		"ipv6-only":   service(func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "fd00::20", []string{"fd00::20"} }),
		"deleted":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			if got := fullScript(t, testConfig, svc, eps...); got != "" {
				t.Errorf("want no rules, got:\n%s", got)
			}
		})
	}
}

func TestBaseTable(t *testing.T) {
	cfg, err := testConfig.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "base", baseTable(&cfg))
}

func TestConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		mod     func(*Config)
		wantErr string
	}{
		"defaults":       {mod: func(c *Config) { c.Table = "" }},
		"no node":        {mod: func(c *Config) { c.NodeName = "" }, wantErr: "NodeName"},
		"no cluster":     {mod: func(c *Config) { c.ClusterCIDR = netip.Prefix{} }, wantErr: "ClusterCIDR"},
		"ipv6 service":   {mod: func(c *Config) { c.ServiceCIDR = netip.MustParsePrefix("fd00::/108") }, wantErr: "ServiceCIDR"},
		"overlap":        {mod: func(c *Config) { c.ServiceCIDR = netip.MustParsePrefix("100.64.128.0/17") }, wantErr: "overlaps"},
		"unmasked input": {mod: func(c *Config) { c.ClusterCIDR = netip.MustParsePrefix("100.64.3.4/16") }},
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig
			tc.mod(&c)
			got, err := c.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Table != DefaultTable && c.Table == "" {
				t.Errorf("table = %q", got.Table)
			}
			if got.ClusterCIDR != netip.MustParsePrefix("100.64.0.0/16") {
				t.Errorf("cluster CIDR = %v", got.ClusterCIDR)
			}
		})
	}
}
