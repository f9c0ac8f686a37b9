package dns

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestForwarding(t *testing.T) {
	up := startUpstream(t)

	t.Run("a dead upstream is skipped", func(t *testing.T) {
		h := startServer(t, []string{deadAddr(t), up.addr})
		resp := h.query(t, "udp", "example.com.", dns.TypeA)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("answer through the second upstream: %v", resp)
		}
		if resp.Authoritative {
			t.Error("forwarded answer marked authoritative")
		}
	})

	t.Run("every upstream down: SERVFAIL", func(t *testing.T) {
		h := startServer(t, []string{deadAddr(t), deadAddr(t)})
		for _, proto := range []string{"udp", "tcp"} {
			if got := h.query(t, proto, "example.com.", dns.TypeA).Rcode; got != dns.RcodeServerFailure {
				t.Errorf("%s: rcode %s, want SERVFAIL", proto, dns.RcodeToString[got])
			}
		}
	})

	t.Run("upstream SERVFAIL passes through", func(t *testing.T) {
		h := startServer(t, []string{up.addr})
		if got := h.query(t, "udp", "servfail.example.", dns.TypeA).Rcode; got != dns.RcodeServerFailure {
			t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[got])
		}
	})

	t.Run("answers are cached, negative ones too", func(t *testing.T) {
		h := startServer(t, []string{up.addr})
		for _, name := range []string{"cached.example.", "example.com."} {
			before := up.count("udp", name)
			first := h.query(t, "udp", name, dns.TypeA)
			second := h.query(t, "udp", name, dns.TypeA)
			if first.Rcode != second.Rcode || len(first.Answer) != len(second.Answer) {
				t.Errorf("%s: cached answer differs:\n%v\n%v", name, first, second)
			}
			if got := up.count("udp", name) - before; got != 1 {
				t.Errorf("%s: upstream asked %d times, want 1", name, got)
			}
		}
	})

	t.Run("upstream truncation: retried over TCP, and truncated again for a UDP client", func(t *testing.T) {
		h := startServer(t, []string{up.addr})
		resp := h.query(t, "udp", "big.example.", dns.TypeA)
		if !resp.Truncated || len(resp.Answer) >= 100 {
			t.Errorf("UDP answer without EDNS: TC=%v with %d records, want truncated", resp.Truncated, len(resp.Answer))
		}
		if up.count("tcp", "big.example.") != 1 {
			t.Errorf("upstream asked over TCP %d times, want 1", up.count("tcp", "big.example."))
		}
		resp = h.query(t, "tcp", "big.example.", dns.TypeA)
		if resp.Truncated || len(resp.Answer) != 100 {
			t.Errorf("TCP answer: TC=%v with %d records, want all 100", resp.Truncated, len(resp.Answer))
		}
	})
}

// TestTruncation: a headless Service larger than a UDP answer.
func TestTruncation(t *testing.T) {
	var eps []discoveryv1.Endpoint
	for i := range 200 {
		eps = append(eps, ep(fmt.Sprintf("100.64.%d.%d", i/250, i%250+1), "", true))
	}
	objs := []runtime.Object{
		svc("default", "big", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		slice("default", "big-1", "big", discoveryv1.AddressTypeIPv4, nil, eps...),
	}
	h := startServer(t, []string{deadAddr(t)}, objs...)
	const name = "big.default.svc.cluster.local."

	resp := h.query(t, "udp", name, dns.TypeA)
	if !resp.Truncated {
		t.Errorf("512-byte UDP answer with %d records not truncated", len(resp.Answer))
	}
	resp.Compress = true // as sent
	if n, _ := resp.Pack(); len(n) > dns.MinMsgSize {
		t.Errorf("UDP answer of %d bytes, over 512", len(n))
	}

	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(4096, false)
	resp = h.exchange(t, "udp", m)
	if resp.Truncated || len(resp.Answer) != 200 {
		t.Errorf("4096-byte EDNS answer: TC=%v with %d records, want 200", resp.Truncated, len(resp.Answer))
	}
	if resp.IsEdns0() == nil {
		t.Error("EDNS query answered without OPT")
	}

	resp = h.query(t, "tcp", name, dns.TypeA)
	if resp.Truncated || len(resp.Answer) != 200 {
		t.Errorf("TCP answer: TC=%v with %d records, want 200", resp.Truncated, len(resp.Answer))
	}
}

func TestResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "search default.svc.cluster.local svc.cluster.local\nnameserver 100.65.0.10\nnameserver 127.0.0.53\nnameserver fd00::53\noptions ndots:5\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := resolvConfUpstreams(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"100.65.0.10:53", "127.0.0.53:53", "[fd00::53]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("upstreams %q, want %q", got, want)
	}

	f := newForwarder(got)
	f.exclude("100.65.0.10:53") // the address the cluster DNS itself listens on
	if got, want := *f.upstreams.Load(), want[1:]; !slices.Equal(got, want) {
		t.Errorf("after exclude: %q, want %q", got, want)
	}

	if _, err := resolvConfUpstreams(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing resolv.conf: no error")
	}
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1:53", "192.0.2.1:5353": "192.0.2.1:5353", "fd00::1": "[fd00::1]:53", "[fd00::1]:5353": "[fd00::1]:5353"} {
		if got := hostPort(in); got != want {
			t.Errorf("hostPort(%q) = %q, want %q", in, got, want)
		}
	}
}
