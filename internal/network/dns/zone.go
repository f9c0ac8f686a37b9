package dns

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// schemaVersion is the version of the Kubernetes DNS specification served, answered as
// TXT at dns-version.<zone>.
const schemaVersion = "1.1.0"

// maxCNAMEChain bounds how many ExternalName Services pointing at each other are followed.
const maxCNAMEChain = 8

// answerZone answers a question for a name inside the cluster domain. name is q.Name in
// lower case.
func (s *Server) answerZone(ctx context.Context, req *dns.Msg, q dns.Question, name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if !s.synced() {
		// Until the informers have listed everything, a miss could be a name not seen yet:
		// SERVFAIL makes clients retry instead of caching a wrong NXDOMAIN.
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	m.Authoritative = true
	switch {
	case name == s.zone:
		switch q.Qtype {
		case dns.TypeSOA:
			m.Answer = append(m.Answer, s.soa())
		case dns.TypeNS:
			m.Answer = append(m.Answer, &dns.NS{Hdr: s.hdr(q.Name, dns.TypeNS), Ns: "ns.dns." + s.zone})
		}
	case name == "dns-version."+s.zone:
		if q.Qtype == dns.TypeTXT {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: s.hdr(q.Name, dns.TypeTXT), Txt: []string{schemaVersion}})
		}
	case name == "pod."+s.zone || strings.HasSuffix(name, ".pod."+s.zone):
		s.answerPod(m, q, strings.TrimSuffix(name, "pod."+s.zone))
	case name == "svc."+s.zone:
		// Always exists: it is where every Service lives.
	default:
		e, exists := s.ix.lookup(name)
		if !exists {
			m.Rcode = dns.RcodeNameError
		} else if e != nil {
			s.answerEntry(ctx, m, q.Qtype, q.Name, e, 0)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa())
	}
	return m
}

// answerEntry adds what e answers for qtype at owner to m: addresses, SRV records with their
// targets' addresses in the additional section, or the CNAME of an ExternalName Service,
// followed inside the zone or resolved upstream for address queries, as CoreDNS does.
func (s *Server) answerEntry(ctx context.Context, m *dns.Msg, qtype uint16, owner string, e *entry, depth int) {
	if e.target != "" {
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: s.hdr(owner, dns.TypeCNAME), Target: e.target})
		if qtype != dns.TypeA && qtype != dns.TypeAAAA {
			return
		}
		if dns.IsSubDomain(s.zone, e.target) {
			if next, _ := s.ix.lookup(e.target); next != nil && depth < maxCNAMEChain {
				s.answerEntry(ctx, m, qtype, e.target, next, depth+1)
			}
			return
		}
		up := new(dns.Msg)
		up.SetQuestion(e.target, qtype)
		resp, err := s.fwd.forward(ctx, up)
		if err != nil {
			s.log.Debug("resolve ExternalName target", "target", e.target, "err", err)
			return
		}
		for _, rr := range resp.Answer {
			if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA || t == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
			}
		}
		return
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		m.Answer = append(m.Answer, s.addrRRs(owner, qtype, e.addrs, e.shuffle)...)
	case dns.TypeSRV:
		s.answerSRV(m, owner, e.srvs)
	case dns.TypeANY:
		m.Answer = append(m.Answer, s.addrRRs(owner, dns.TypeA, e.addrs, false)...)
		m.Answer = append(m.Answer, s.addrRRs(owner, dns.TypeAAAA, e.addrs, false)...)
		s.answerSRV(m, owner, e.srvs)
	}
}

// answerSRV adds srvs, weighted equally as CoreDNS does, and each target's addresses.
func (s *Server) answerSRV(m *dns.Msg, owner string, srvs []srv) {
	if len(srvs) == 0 {
		return
	}
	weight := uint16(100 / len(srvs))
	targets := map[string]bool{}
	for _, r := range srvs {
		m.Answer = append(m.Answer, &dns.SRV{Hdr: s.hdr(owner, dns.TypeSRV), Priority: 0, Weight: weight, Port: r.port, Target: r.target})
		if targets[r.target] {
			continue
		}
		targets[r.target] = true
		m.Extra = append(m.Extra, s.addrRRs(r.target, dns.TypeA, r.addrs, false)...)
		m.Extra = append(m.Extra, s.addrRRs(r.target, dns.TypeAAAA, r.addrs, false)...)
	}
}

// addrRRs returns the A (qtype A) or AAAA records of addrs at owner.
func (s *Server) addrRRs(owner string, qtype uint16, addrs []netip.Addr, shuffle bool) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		switch {
		case qtype == dns.TypeA && a.Is4():
			out = append(out, &dns.A{Hdr: s.hdr(owner, dns.TypeA), A: a.AsSlice()})
		case qtype == dns.TypeAAAA && a.Is6():
			out = append(out, &dns.AAAA{Hdr: s.hdr(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	if shuffle {
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// answerPod answers <a-b-c-d>.<ns>.pod.<zone> with the address written in the name, as
// CoreDNS's "pods insecure" mode does. rest is the name without "pod.<zone>".
func (s *Server) answerPod(m *dns.Msg, q dns.Question, rest string) {
	labels := strings.Split(strings.TrimSuffix(rest, "."), ".")
	if rest == "" || len(labels) == 1 {
		return // pod.<zone> and <ns>.pod.<zone> have names below them: NODATA
	}
	a, ok := podAddr(labels[0])
	if len(labels) != 2 || !ok {
		m.Rcode = dns.RcodeNameError
		return
	}
	m.Answer = s.addrRRs(q.Name, q.Qtype, []netip.Addr{a}, false)
}

// podAddr reads an address written with dashes: 10-0-0-1, or fd00--1 for IPv6.
func podAddr(label string) (netip.Addr, bool) {
	var text string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		text = strings.ReplaceAll(label, "-", ".")
	} else {
		text = strings.ReplaceAll(label, "-", ":")
	}
	a, err := netip.ParseAddr(text)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// answerPTR answers a PTR question for an address of the cluster's Services and headless
// endpoints; nil means the address is not the cluster's and the question goes upstream.
func (s *Server) answerPTR(req *dns.Msg, q dns.Question, name string) *dns.Msg {
	if q.Qtype != dns.TypePTR {
		return nil
	}
	a, ok := reverseAddr(name)
	if !ok {
		return nil
	}
	targets := s.ix.reverse(a)
	if len(targets) == 0 {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	for _, t := range targets {
		m.Answer = append(m.Answer, &dns.PTR{Hdr: s.hdr(q.Name, dns.TypePTR), Ptr: t})
	}
	return m
}

// reverseAddr reads the address of a reverse name: d.c.b.a.in-addr.arpa. or the 32 nibbles
// of an ip6.arpa. name.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(labels)
		a, err := netip.ParseAddr(strings.Join(labels, "."))
		return a, err == nil && a.Is4()
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		for _, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
		}
		slices.Reverse(labels)
		var b [16]byte
		if _, err := hex.Decode(b[:], []byte(strings.Join(labels, ""))); err != nil {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16(b).Unmap(), true
	}
	return netip.Addr{}, false
}

// soa is the zone's SOA record, sent with every negative answer: its minimum is the time
// resolvers may cache NXDOMAIN and NODATA (RFC 2308).
func (s *Server) soa() *dns.SOA {
	return &dns.SOA{
		Hdr:     s.hdr(s.zone, dns.TypeSOA),
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  s.ix.soaSerial(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

func (s *Server) hdr(owner string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.ttl}
}
