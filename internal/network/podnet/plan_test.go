package podnet

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode(name, cidr, ip, mac string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	if mac != "" {
		n.Annotations = map[string]string{AnnotationVTEPMAC: mac}
	}
	return n
}

func testConfig(mode string) Config {
	cfg, err := Config{NodeName: "n1", NodeIP: netip.MustParseAddr("100.66.0.1"), PodCIDR: netip.MustParsePrefix("100.64.1.0/24"),
		ClusterCIDR: netip.MustParsePrefix("100.64.0.0/16"), ServiceCIDR: netip.MustParsePrefix("100.65.0.0/16"),
		Mode: mode, Client: fake.NewClientset()}.withDefaults()
	if err != nil {
		panic(err)
	}
	return cfg
}

func TestDesired(t *testing.T) {
	dup := testNode("dup", "100.64.3.0/24", "100.66.0.8", "0a:58:64:42:00:08") // n3's range, claimed later
	dup.CreationTimestamp = metav1.Now()
	nodes := []*corev1.Node{
		testNode("n3", "100.64.3.0/24", "100.66.0.3", "0a:58:64:42:00:03"),
		testNode("n1", "100.64.1.0/24", "100.66.0.1", "0a:58:64:42:00:01"), // this node
		testNode("n2", "100.64.2.0/24", "100.66.0.2", ""),                  // no VTEP MAC yet
		testNode("new", "", "100.66.0.9", ""),                              // no range yet
		testNode("noaddr", "100.64.9.0/24", "", ""),                        // no InternalIP
		testNode("rogue", "0.0.0.0/0", "100.66.0.7", "0a:58:64:42:00:07"),  // would steer all traffic
		dup,
		testNode("mine", "100.64.1.0/25", "100.66.0.6", "0a:58:64:42:00:06"), // overlaps this node's
	}
	tests := []struct {
		mode  string
		want  []string
		peers []string
	}{
		{ModeHostGW, []string{
			"blackhole 100.64.0.0/16",
			"100.64.2.0/24 via 100.66.0.2",
			"100.64.3.0/24 via 100.66.0.3",
			"100.65.0.0/16 dev lo src 100.66.0.1",
		}, nil},
		{ModeVXLAN, []string{
			"blackhole 100.64.0.0/16",
			"100.64.3.0/24 via 100.64.3.0 dev gantry.vxlan onlink",
			"100.65.0.0/16 dev lo src 100.66.0.1",
		}, []string{"n3 100.66.0.3 100.64.3.0 0a:58:64:42:00:03"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := desired(testConfig(tt.mode), nodes, slog.New(slog.DiscardHandler))
			var got, peers []string
			for _, r := range p.Routes {
				got = append(got, r.String())
			}
			for _, pr := range p.Peers {
				peers = append(peers, fmt.Sprintf("%s %s %s %s", pr.Node, pr.NodeIP, pr.VTEP, pr.MAC))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("routes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Join(peers, "\n") != strings.Join(tt.peers, "\n") {
				t.Errorf("peers %v, want %v", peers, tt.peers)
			}
		})
	}
}

func TestConfigRejects(t *testing.T) {
	good := testConfig(ModeHostGW)
	for name, change := range map[string]func(*Config){
		"no node name":         func(c *Config) { c.NodeName = "" },
		"IPv6 node IP":         func(c *Config) { c.NodeIP = netip.MustParseAddr("fd00::1") },
		"pod CIDR outside":     func(c *Config) { c.PodCIDR = netip.MustParsePrefix("100.66.1.0/24") },
		"pod CIDR too large":   func(c *Config) { c.PodCIDR = netip.MustParsePrefix("100.64.0.0/15") },
		"no service CIDR":      func(c *Config) { c.ServiceCIDR = netip.Prefix{} },
		"unknown mode":         func(c *Config) { c.Mode = "ipip" },
		"bad port":             func(c *Config) { c.VXLANPort = 70000 },
		"vxlan without client": func(c *Config) { c.Mode, c.Client = ModeVXLAN, nil },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			change(&cfg)
			if _, err := cfg.withDefaults(); err == nil {
				t.Errorf("%+v accepted", cfg)
			}
		})
	}
	if cfg, err := (Config{NodeName: "n", NodeIP: good.NodeIP, PodCIDR: good.PodCIDR, ClusterCIDR: good.ClusterCIDR,
		ServiceCIDR: good.ServiceCIDR}).withDefaults(); err != nil || cfg.Mode != ModeHostGW || cfg.VXLANPort != DefaultVXLANPort {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
}

func TestVTEP(t *testing.T) {
	if got := vtepMAC(netip.MustParseAddr("100.66.0.3")).String(); got != "0a:58:64:42:00:03" {
		t.Errorf("vtepMAC = %s", got)
	}
	if got := vtepAddr(netip.MustParsePrefix("100.64.3.0/24")); got.String() != "100.64.3.0" {
		t.Errorf("vtepAddr = %s", got)
	}
}

func TestRoutingChanged(t *testing.T) {
	base := testNode("n2", "100.64.2.0/24", "100.66.0.2", "0a:58:64:42:00:02")
	heartbeat := base.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	heartbeat.Labels = map[string]string{"a": "b"}
	if routingChanged(base, heartbeat) {
		t.Error("a status heartbeat counts as a routing change")
	}
	for name, n := range map[string]*corev1.Node{
		"pod CIDR": testNode("n2", "100.64.3.0/24", "100.66.0.2", "0a:58:64:42:00:02"),
		"node IP":  testNode("n2", "100.64.2.0/24", "100.66.0.9", "0a:58:64:42:00:02"),
		"VTEP MAC": testNode("n2", "100.64.2.0/24", "100.66.0.2", "0a:58:64:42:00:09"),
		"no range": testNode("n2", "", "100.66.0.2", "0a:58:64:42:00:02"),
	} {
		if !routingChanged(base, n) {
			t.Errorf("a changed %s is no routing change", name)
		}
	}
}
