package dns

import (
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCache(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := newAnswerCache(func() time.Time { return now })
	msg := func(rcode int, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("x.example.", dns.TypeA)
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := rr.(*dns.SOA); ok {
				m.Ns = append(m.Ns, rr)
			} else {
				m.Answer = append(m.Answer, rr)
			}
		}
		return m
	}
	soa := func(ttl, minimum int) string {
		return "example. " + strconv.Itoa(ttl) + " IN SOA ns.example. h.example. 1 7200 1800 86400 " + strconv.Itoa(minimum)
	}

	tests := []struct {
		name    string
		msg     *dns.Msg
		after   time.Duration // when it is asked again
		cached  bool
		wantTTL uint32 // of the first record, when cached
	}{
		{name: "positive, TTL lowered by age", msg: msg(dns.RcodeSuccess, "x.example. 60 IN A 192.0.2.1", "x.example. 30 IN A 192.0.2.2"),
			after: 10 * time.Second, cached: true, wantTTL: 50},
		{name: "positive, expired at the smallest TTL", msg: msg(dns.RcodeSuccess, "x.example. 60 IN A 192.0.2.1", "x.example. 30 IN A 192.0.2.2"),
			after: 30 * time.Second},
		{name: "NXDOMAIN kept for the SOA minimum", msg: msg(dns.RcodeNameError, soa(300, 20)), after: 19 * time.Second, cached: true, wantTTL: 281},
		{name: "NXDOMAIN expired after the SOA minimum", msg: msg(dns.RcodeNameError, soa(300, 20)), after: 20 * time.Second},
		{name: "NODATA kept for the SOA TTL when smaller", msg: msg(dns.RcodeSuccess, soa(10, 600)), after: 9 * time.Second, cached: true, wantTTL: 1},
		{name: "NXDOMAIN without SOA not kept", msg: msg(dns.RcodeNameError)},
		{name: "SERVFAIL not kept", msg: msg(dns.RcodeServerFailure, soa(300, 300))},
		{name: "TTL 0 not kept", msg: msg(dns.RcodeSuccess, "x.example. 0 IN A 192.0.2.1")},
		{name: "huge TTL capped", msg: msg(dns.RcodeSuccess, "x.example. 86400 IN A 192.0.2.1"), after: maxPositiveTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := cacheKey{name: tt.name, qtype: dns.TypeA, qclass: dns.ClassINET}
			c.put(k, tt.msg)
			now = now.Add(tt.after)
			got := c.get(k)
			if (got != nil) != tt.cached {
				t.Fatalf("cached %v, want %v", got != nil, tt.cached)
			}
			if got == nil {
				return
			}
			rrs := append(got.Answer, got.Ns...)
			if ttl := rrs[0].Header().Ttl; ttl != tt.wantTTL {
				t.Errorf("TTL %d, want %d", ttl, tt.wantTTL)
			}
			if got.Rcode != tt.msg.Rcode {
				t.Errorf("rcode %d, want %d", got.Rcode, tt.msg.Rcode)
			}
			got.Answer = nil // the caller owns what get returns
			if again := c.get(k); again == nil || len(again.Answer) != len(tt.msg.Answer) {
				t.Error("modifying an answer changed the cache")
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		c := newAnswerCache(func() time.Time { return now })
		m := msg(dns.RcodeSuccess, "x.example. 60 IN A 192.0.2.1")
		for i := range maxCacheItems + 10 {
			c.put(cacheKey{name: strconv.Itoa(i)}, m)
		}
		if n := len(c.items); n != maxCacheItems {
			t.Errorf("%d answers kept, want %d", n, maxCacheItems)
		}
	})
}
