package simulate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

func TestZoneName(t *testing.T) {
	for i, want := range map[int]string{0: "zone-a", 1: "zone-b", 25: "zone-z", 26: "zone-aa", 27: "zone-ab", 701: "zone-zz", 702: "zone-aaa"} {
		if got := ZoneName(i); got != want {
			t.Errorf("ZoneName(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestParseTaints(t *testing.T) {
	got, err := ParseTaints([]string{"dedicated=sim:NoSchedule", "gpu:PreferNoSchedule"})
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Taint{{Key: "dedicated", Value: "sim", Effect: "NoSchedule"}, {Key: "gpu", Effect: "PreferNoSchedule"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseTaints = %+v", got)
	}
	for _, bad := range []string{"nokey", "a=b:Sometimes", "bad key:NoSchedule"} {
		if _, err := ParseTaints([]string{bad}); err == nil {
			t.Errorf("ParseTaints(%q) succeeded", bad)
		}
	}
}

func TestOptionsComplete(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		errs   string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no nodes", func(o *Options) { o.Nodes = 0 }, "nodes"},
		{"bad prefix", func(o *Options) { o.NodePrefix = "Sim_" }, "node prefix"},
		{"no cpu", func(o *Options) { delete(o.Capacity, corev1.ResourceCPU) }, "cpu"},
		{"negative delay", func(o *Options) { o.PodStartDelay = -time.Second }, "negative"},
		{"zero renew", func(o *Options) { o.LeaseRenewInterval = 0 }, "intervals"},
		{"range too small", func(o *Options) { o.Nodes = 100; o.PodCIDR = netip.MustParsePrefix("198.18.0.0/24") }, "too small"},
		{"IPv6 range", func(o *Options) { o.PodCIDR = netip.MustParsePrefix("2001:db8::/64") }, "IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mutate(&o)
			_, err := o.complete()
			switch {
			case tc.errs == "" && err != nil:
				t.Errorf("err = %v", err)
			case tc.errs != "" && (err == nil || !strings.Contains(err.Error(), tc.errs)):
				t.Errorf("err = %v, want one about %q", err, tc.errs)
			}
		})
	}
}

func TestAddressPlan(t *testing.T) {
	cidr := netip.MustParsePrefix(DefaultPodCIDR)
	for _, tc := range []struct {
		nodes int
		block uint32
	}{{1, 256}, {512, 256}, {513, 128}, {1000, 128}, {5000, 16}, {32768, 4}} {
		p, err := newAddressPlan(cidr, tc.nodes)
		if err != nil || p.block != tc.block {
			t.Errorf("%d nodes: block %d (%v), want %d", tc.nodes, p.block, err, tc.block)
			continue
		}
		last := p.podIPs(tc.nodes - 1)
		if end := last.at(last.size - 1); !cidr.Contains(end) {
			t.Errorf("%d nodes: last pod address %s outside %s", tc.nodes, end, cidr)
		}
	}
	if _, err := newAddressPlan(cidr, 32769); err == nil {
		t.Error("32769 nodes fit in a /15 with 4 addresses each")
	}
	p, _ := newAddressPlan(cidr, 1000)
	if got := p.hostIP(999).String(); got != "198.19.243.129" {
		t.Errorf("host IP of node 999 = %s", got)
	}
}

func TestIPPool(t *testing.T) {
	p, _ := newAddressPlan(netip.MustParsePrefix("198.18.0.0/29"), 1)
	pool := p.podIPs(0) // 8 addresses: .2 to .6 for pods
	if pool.size != 5 {
		t.Fatalf("size = %d", pool.size)
	}
	pool.reserve("restarted", "198.18.0.3")
	seen := map[string]bool{"198.18.0.3": true}
	for i := range 4 {
		a, unique := pool.assign(types.UID(rune('a' + i)))
		if !unique || seen[a.String()] {
			t.Fatalf("pod %d got %s (unique %v); seen %v", i, a, unique, seen)
		}
		seen[a.String()] = true
	}
	if a, _ := pool.assign("a"); a.String() != "198.18.0.2" {
		t.Errorf("assign is not stable: a got %s", a)
	}
	if _, unique := pool.assign("full"); unique {
		t.Error("a sixth pod got a unique address out of five")
	}
	pool.release("b")
	pool.release("full")
	a, unique := pool.assign("new")
	if !unique || a.String() != "198.18.0.4" {
		t.Errorf("after release: %s unique %v, want 198.18.0.4", a, unique)
	}
	pool.reserve("x", "198.18.1.9") // outside: ignored
	if _, ok := pool.byUID["x"]; ok {
		t.Error("reserved an address outside the pool")
	}
}

func TestClientConfig(t *testing.T) {
	o := DefaultOptions()
	o.Nodes = 1000
	c := clientConfig(&rest.Config{Host: "https://127.0.0.1:6443"}, &o)
	// 100 renewals and 16.7 heartbeats a second, twice, plus 500.
	if c.QPS < 733 || c.QPS > 734 || c.Burst != 1466 || c.UserAgent != UserAgent {
		t.Errorf("sized: qps %v burst %d agent %q", c.QPS, c.Burst, c.UserAgent)
	}
	if c := clientConfig(&rest.Config{QPS: 50, Burst: 60, UserAgent: "me"}, &o); c.QPS != 50 || c.Burst != 60 || c.UserAgent != "me" {
		t.Errorf("the caller's limits were not kept: %v %d %q", c.QPS, c.Burst, c.UserAgent)
	}
	o.QPS = 100
	if c := clientConfig(&rest.Config{QPS: 50, Burst: 60}, &o); c.QPS != 100 || c.Burst != 200 {
		t.Errorf("--qps 100: %v %d", c.QPS, c.Burst)
	}
}
