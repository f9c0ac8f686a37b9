package dns

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"
)

// respond answers one query given as a raw packet and returns the raw answer, or nil when
// nothing should be sent: a packet too short to hold a header, or a response (answering
// responses invites loops and reflection). udp says the answer must fit the client's UDP
// buffer, truncated with TC set otherwise so that the client retries over TCP.
func (s *Server) respond(ctx context.Context, raw []byte, udp bool) []byte {
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		return nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		return formErr(raw)
	}
	m := s.answer(ctx, req)

	// EDNS (RFC 6891): answer with our own OPT if the client sent one, never an upstream's.
	m.Extra = dropOPT(m.Extra)
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	m.RecursionAvailable = true
	m.Compress = true
	if udp {
		m.Truncate(size)
	}
	out, err := m.Pack()
	if err != nil {
		s.log.Warn("pack answer", "question", req.Question, "err", err)
		fail := new(dns.Msg)
		fail.SetRcode(req, dns.RcodeServerFailure)
		if out, err = fail.Pack(); err != nil {
			return nil
		}
	}
	return out
}

// answer decides the answer to a well-formed message.
func (s *Server) answer(ctx context.Context, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	switch {
	case req.Opcode != dns.OpcodeQuery:
		return m.SetRcode(req, dns.RcodeNotImplemented)
	case len(req.Question) != 1 || countOPT(req.Extra) > 1:
		return m.SetRcodeFormatError(req)
	case req.IsEdns0() != nil && req.IsEdns0().Version() != 0:
		m.SetRcode(req, dns.RcodeBadVers)
		m.SetEdns0(ednsSize, false)
		return m
	}
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		return m.SetRcode(req, dns.RcodeRefused)
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		return m.SetRcode(req, dns.RcodeRefused) // zone transfers are not served
	case q.Qtype == dns.TypeOPT:
		return m.SetRcodeFormatError(req)
	}
	name := strings.ToLower(q.Name)
	if dns.IsSubDomain(s.zone, name) {
		return s.answerZone(ctx, req, q, name)
	}
	if ptr := s.answerPTR(req, q, name); ptr != nil {
		return ptr
	}
	resp, err := s.fwd.forward(ctx, req)
	if err != nil {
		s.log.Debug("forward", "name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		return m.SetRcode(req, dns.RcodeServerFailure)
	}
	m.SetReply(req) // our ID and the question as the client wrote it
	m.Rcode = resp.Rcode
	m.Authoritative = false
	m.AuthenticatedData = resp.AuthenticatedData
	m.Answer, m.Ns, m.Extra = resp.Answer, resp.Ns, resp.Extra
	return m
}

// formErr is the FORMERR answer to a packet whose header is readable but whose body is not.
func formErr(raw []byte) []byte {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{
		Id:               binary.BigEndian.Uint16(raw),
		Response:         true,
		Opcode:           int(raw[2]>>3) & 0xF,
		RecursionDesired: raw[2]&1 == 1,
		Rcode:            dns.RcodeFormatError,
	}}
	out, err := m.Pack()
	if err != nil {
		return nil
	}
	return out
}

func dropOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

func countOPT(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}
