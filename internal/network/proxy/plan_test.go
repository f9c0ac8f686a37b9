package proxy

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// planner drives a tableState through successive versions of services, as the sync loop does.
type planner struct {
	t     *testing.T
	cfg   Config
	state *tableState
}

func newPlanner(t *testing.T) *planner {
	cfg, err := testConfig.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &planner{t: t, cfg: cfg, state: newTableState(cfg.Table)}
}

// set gives service name its new version (nil: deleted) and returns the planned commands.
func (p *planner) set(name string, svc *v1.Service, slices ...*discovery.EndpointSlice) string {
	if svc != nil {
		svc = svc.DeepCopy()
		svc.Name = name
	}
	r := computeService(&p.cfg, svc, slices)
	return p.state.plan(map[types.NamespacedName]*serviceRules{{Namespace: "ns", Name: name}: r}, testTime)
}

// Each step shows what one change writes, given everything before it.
func TestPlanIncremental(t *testing.T) {
	p := newPlanner(t)
	two := slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready"))
	steps := []struct {
		name string
		run  func() string
		want string
	}{
		{"service without endpoints is rejected", func() string { return p.set("web", service()) },
			"add element ip gantry no-endpoint-services { 100.65.0.20 . tcp . 80 : goto reject-chain }\n"},
		{"endpoints appear: chain, element moves from reject to dispatch", func() string { return p.set("web", service(), two) },
			"add chain ip gantry service-ns/web/tcp/http\n" +
				"flush chain ip gantry service-ns/web/tcp/http\n" +
				"add rule ip gantry service-ns/web/tcp/http ip saddr != 100.64.0.0/16 jump mark-for-masquerade\n" +
				"add rule ip gantry service-ns/web/tcp/http meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 100.64.1.2 . 8080, 1 : 100.64.2.3 . 8080 }\n" +
				"delete element ip gantry no-endpoint-services { 100.65.0.20 . tcp . 80 }\n" +
				"add element ip gantry hairpin { 100.64.1.2 . 100.64.1.2 . tcp . 8080 }\n" +
				"add element ip gantry service-ips { 100.65.0.20 . tcp . 80 : goto service-ns/web/tcp/http }\n"},
		{"same again writes nothing", func() string { return p.set("web", service(), two) }, ""},
		{"a remote endpoint more rewrites only the chain", func() string {
			return p.set("web", service(), slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready"), ep("100.64.2.3", "node-b", "ready"), ep("100.64.2.9", "node-b", "ready")))
		},
			"add chain ip gantry service-ns/web/tcp/http\n" +
				"flush chain ip gantry service-ns/web/tcp/http\n" +
				"add rule ip gantry service-ns/web/tcp/http ip saddr != 100.64.0.0/16 jump mark-for-masquerade\n" +
				"add rule ip gantry service-ns/web/tcp/http meta l4proto tcp dnat ip addr . port to numgen random mod 3 map { 0 : 100.64.1.2 . 8080, 1 : 100.64.2.3 . 8080, 2 : 100.64.2.9 . 8080 }\n"},
		{"a second service shares the local endpoint", func() string {
			return p.set("api", service(func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.21", nil }), two)
		},
			"add chain ip gantry service-ns/api/tcp/http\n" +
				"flush chain ip gantry service-ns/api/tcp/http\n" +
				"add rule ip gantry service-ns/api/tcp/http ip saddr != 100.64.0.0/16 jump mark-for-masquerade\n" +
				"add rule ip gantry service-ns/api/tcp/http meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 100.64.1.2 . 8080, 1 : 100.64.2.3 . 8080 }\n" +
				"add element ip gantry service-ips { 100.65.0.21 . tcp . 80 : goto service-ns/api/tcp/http }\n"},
		{"deleting the first keeps the shared hairpin element; its chain goes stale", func() string { return p.set("web", nil) },
			"delete element ip gantry service-ips { 100.65.0.20 . tcp . 80 }\n" +
				"flush chain ip gantry service-ns/web/tcp/http\n"},
		{"affinity adds sets and endpoint chains", func() string {
			return p.set("api", service(func(s *v1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.21", nil
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			}), slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready")))
		},
			"add set ip gantry affinity-10800-ns/api/tcp/http__100.64.1.2/8080 { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }\n" +
				"add chain ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add chain ip gantry service-ns/api/tcp/http\n" +
				"flush chain ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add rule ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080 update @affinity-10800-ns/api/tcp/http__100.64.1.2/8080 { ip saddr }\n" +
				"add rule ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080 meta l4proto tcp dnat to 100.64.1.2:8080\n" +
				"flush chain ip gantry service-ns/api/tcp/http\n" +
				"add rule ip gantry service-ns/api/tcp/http ip saddr != 100.64.0.0/16 jump mark-for-masquerade\n" +
				"add rule ip gantry service-ns/api/tcp/http ip saddr @affinity-10800-ns/api/tcp/http__100.64.1.2/8080 goto endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add rule ip gantry service-ns/api/tcp/http numgen random mod 1 vmap { 0 : goto endpoint-ns/api/tcp/http__100.64.1.2/8080 }\n"},
		{"a new timeout is a new set; the old one is deleted after its chains are flushed", func() string {
			return p.set("api", service(func(s *v1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "100.65.0.21", nil
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(5))}}
			}), slice("web-1", 8080, ep("100.64.1.2", "node-a", "ready")))
		},
			"add set ip gantry affinity-5-ns/api/tcp/http__100.64.1.2/8080 { type ipv4_addr; flags dynamic,timeout; timeout 5s; }\n" +
				"add chain ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add chain ip gantry service-ns/api/tcp/http\n" +
				"flush chain ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add rule ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080 update @affinity-5-ns/api/tcp/http__100.64.1.2/8080 { ip saddr }\n" +
				"add rule ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080 meta l4proto tcp dnat to 100.64.1.2:8080\n" +
				"flush chain ip gantry service-ns/api/tcp/http\n" +
				"add rule ip gantry service-ns/api/tcp/http ip saddr != 100.64.0.0/16 jump mark-for-masquerade\n" +
				"add rule ip gantry service-ns/api/tcp/http ip saddr @affinity-5-ns/api/tcp/http__100.64.1.2/8080 goto endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"add rule ip gantry service-ns/api/tcp/http numgen random mod 1 vmap { 0 : goto endpoint-ns/api/tcp/http__100.64.1.2/8080 }\n" +
				"delete set ip gantry affinity-10800-ns/api/tcp/http__100.64.1.2/8080\n"},
		{"deleting the last owner removes the hairpin element", func() string { return p.set("api", nil) },
			"delete element ip gantry hairpin { 100.64.1.2 . 100.64.1.2 . tcp . 8080 }\n" +
				"delete element ip gantry service-ips { 100.65.0.21 . tcp . 80 }\n" +
				"flush chain ip gantry endpoint-ns/api/tcp/http__100.64.1.2/8080\n" +
				"flush chain ip gantry service-ns/api/tcp/http\n" +
				"delete set ip gantry affinity-5-ns/api/tcp/http__100.64.1.2/8080\n"},
	}
	for _, s := range steps {
		if got := s.run(); got != s.want {
			t.Fatalf("%s:\n--- got:\n%s--- want:\n%s", s.name, got, s.want)
		}
	}
	if len(p.state.services) != 0 || len(p.state.elements) != 0 {
		t.Errorf("state not empty after deleting everything: %d services, %d elements", len(p.state.services), len(p.state.elements))
	}
	if got := p.state.staleChains(testTime.Add(staleChainDelay / 2)); len(got) != 0 {
		t.Errorf("stale chains deleted too early: %v", got)
	}
	want := "endpoint-ns/api/tcp/http__100.64.1.2/8080 service-ns/api/tcp/http service-ns/web/tcp/http"
	if got := strings.Join(p.state.staleChains(testTime.Add(staleChainDelay)), " "); got != want {
		t.Errorf("stale chains = %s, want %s", got, want)
	}
}

// A chain that went stale and is wanted again must not be deleted later.
func TestPlanStaleChainWantedAgain(t *testing.T) {
	p := newPlanner(t)
	eps := slice("web-1", 8080, ep("100.64.2.3", "node-b", "ready"))
	p.set("web", service(), eps)
	p.set("web", nil)
	if len(p.state.stale) != 1 {
		t.Fatalf("stale = %v", p.state.stale)
	}
	got := p.set("web", service(), eps)
	if !strings.Contains(got, "flush chain ip gantry service-ns/web/tcp/http\nadd rule") {
		t.Errorf("chain not rewritten:\n%s", got)
	}
	if len(p.state.stale) != 0 {
		t.Errorf("chain still marked stale: %v", p.state.stale)
	}
}

// Large element lists are split into several commands.
func TestPlanBatchesElements(t *testing.T) {
	w := &scriptWriter{table: "gantry"}
	items := make([]string, 2500)
	for i := range items {
		items[i] = "x"
	}
	w.elements("add", map[string][]string{"hairpin": items})
	if n := strings.Count(w.String(), "\n"); n != 3 {
		t.Errorf("%d commands for 2500 elements, want 3", n)
	}
}
