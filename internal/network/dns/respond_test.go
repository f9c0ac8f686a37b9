package dns

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMalformed sends packets no stub resolver would over UDP.
func TestMalformed(t *testing.T) {
	h := startServer(t, []string{deadAddr(t)}, clusterObjects()...)

	query := func(mutate func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
		m.Id = 0x1234
		mutate(m)
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	valid := query(func(*dns.Msg) {})

	tests := []struct {
		name  string
		raw   []byte
		rcode int // -1: no answer at all
	}{
		{name: "header only, cut body", raw: append(valid[:12:12], 0x03, 'w', 'e'), rcode: dns.RcodeFormatError},
		{name: "garbage after the header", raw: append(valid[:12:12], 0xff, 0xff, 0xff, 0xff, 0xff), rcode: dns.RcodeFormatError},
		{name: "shorter than a header", raw: valid[:5], rcode: -1},
		{name: "a response", raw: query(func(m *dns.Msg) { m.Response = true }), rcode: -1},
		{name: "no question", raw: query(func(m *dns.Msg) { m.Question = nil }), rcode: dns.RcodeFormatError},
		{name: "two questions", raw: query(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), rcode: dns.RcodeFormatError},
		{name: "NOTIFY", raw: query(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), rcode: dns.RcodeNotImplemented},
		{name: "EDNS version 1", raw: query(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), rcode: dns.RcodeBadVers},
		{name: "zone transfer", raw: query(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), rcode: dns.RcodeRefused},
		{name: "class CHAOS", raw: query(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), rcode: dns.RcodeRefused},
		{name: "well-formed, for contrast", raw: valid, rcode: dns.RcodeSuccess},
	}
	conn, err := net.Dial("udp", h.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := conn.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			wait := 2 * time.Second
			if tt.rcode < 0 {
				wait = 200 * time.Millisecond
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 65535)
			n, err := conn.Read(buf)
			if tt.rcode < 0 {
				if err == nil {
					t.Fatalf("answered a packet that should get none: %x", buf[:n])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(buf[:n]); err != nil {
				t.Fatalf("unreadable answer: %v", err)
			}
			if resp.Id != 0x1234 || !resp.Response {
				t.Errorf("answer id %#x response %v, want 0x1234 true", resp.Id, resp.Response)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
		})
	}
}
