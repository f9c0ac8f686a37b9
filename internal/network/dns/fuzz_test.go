package dns

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds raw packets to the server's answer path, as UDP and as TCP: it must never
// panic, answer every packet that has a query header with a readable message of the same ID,
// and keep UDP answers within the client's buffer.
func FuzzServeDNS(f *testing.F) {
	up := startUpstream(f)
	h := startServer(f, []string{up.addr}, clusterObjects()...)

	seed := func(name string, qtype uint16, edns bool) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns {
			m.SetEdns0(1232, true)
		}
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.default.svc.cluster.local.", dns.TypeA},
		{"db.default.svc.cluster.local.", dns.TypeAAAA},
		{"_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV},
		{"db.default.svc.cluster.local.", dns.TypeANY},
		{"db-0.db.default.svc.cluster.local.", dns.TypeA},
		{"ext.default.svc.cluster.local.", dns.TypeA},
		{"alias.default.svc.cluster.local.", dns.TypeAAAA},
		{"1-2-3-4.default.pod.cluster.local.", dns.TypeA},
		{"fd00--1.default.pod.cluster.local.", dns.TypeAAAA},
		{"20.0.65.100.in-addr.arpa.", dns.TypePTR},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR},
		{"cluster.local.", dns.TypeSOA},
		{"dns-version.cluster.local.", dns.TypeTXT},
		{"nope.default.svc.cluster.local.default.svc.cluster.local.", dns.TypeA},
		{"example.com.", dns.TypeA},
		{"big.example.", dns.TypeA},
	} {
		seed(q.name, q.qtype, false)
		seed(q.name, q.qtype, true)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c}) // compression loop
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, udp := range []bool{true, false} {
			out := h.srv.respond(ctx, raw, udp)
			if out == nil {
				if len(raw) >= 12 && raw[2]&0x80 == 0 {
					t.Fatalf("no answer to a query header: %x", raw)
				}
				continue
			}
			m := new(dns.Msg)
			if err := m.Unpack(out); err != nil {
				t.Fatalf("unreadable answer %x to %x: %v", out, raw, err)
			}
			if m.Id != binary.BigEndian.Uint16(raw) || !m.Response {
				t.Fatalf("answer id %#x response %v to %x", m.Id, m.Response, raw)
			}
			req := new(dns.Msg)
			if !udp || req.Unpack(raw) != nil {
				continue
			}
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = max(int(opt.UDPSize()), dns.MinMsgSize)
			}
			if len(out) > size {
				t.Fatalf("UDP answer of %d bytes for a %d-byte buffer to %x", len(out), size, raw)
			}
		}
	})
}
