package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const (
	// upstreamTimeout bounds one exchange with one upstream, so that a dead first upstream
	// leaves time for the next before the client (glibc: 5 s) gives up.
	upstreamTimeout = 2 * time.Second
	// ednsSize is the UDP payload size advertised to clients and upstreams: the DNS Flag Day
	// 2020 value, which avoids IP fragmentation.
	ednsSize = 1232
)

var errNoUpstreams = errors.New("no upstream resolvers")

// forwarder answers names outside the cluster from upstream resolvers, through a cache.
type forwarder struct {
	upstreams atomic.Pointer[[]string] // host:port, tried in order
	cache     *answerCache
	udp, tcp  *dns.Client
}

func newForwarder(upstreams []string) *forwarder {
	f := &forwarder{
		cache: newAnswerCache(time.Now),
		udp:   &dns.Client{Net: "udp", Timeout: upstreamTimeout, UDPSize: ednsSize},
		tcp:   &dns.Client{Net: "tcp", Timeout: upstreamTimeout},
	}
	f.upstreams.Store(&upstreams)
	return f
}

// exclude removes addr from the upstreams: the resolv.conf of a node may name the cluster
// DNS address itself, and forwarding to ourselves would loop.
func (f *forwarder) exclude(addr string) {
	var kept []string
	for _, u := range *f.upstreams.Load() {
		if u != addr {
			kept = append(kept, u)
		}
	}
	f.upstreams.Store(&kept)
}

// forward answers req's question from the cache or the first upstream that answers it. An
// upstream's SERVFAIL or REFUSED moves on to the next one; the last such answer is returned
// if no upstream does better. The returned message is the caller's to modify.
func (f *forwarder) forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	q := req.Question[0]
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	k := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass, do: do, cd: req.CheckingDisabled}
	if m := f.cache.get(k); m != nil {
		return m, nil
	}

	up := new(dns.Msg)
	up.Id = dns.Id()
	up.RecursionDesired = true
	up.CheckingDisabled = req.CheckingDisabled
	up.Question = []dns.Question{q}
	up.SetEdns0(ednsSize, do)

	upstreams := *f.upstreams.Load()
	if len(upstreams) == 0 {
		return nil, errNoUpstreams
	}
	var failed *dns.Msg
	var errs []error
	for _, u := range upstreams {
		resp, err := f.exchange(ctx, up, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", u, err))
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			failed = resp
			continue
		}
		f.cache.put(k, resp)
		return resp, nil
	}
	if failed != nil {
		return failed, nil
	}
	return nil, errors.Join(errs...)
}

// exchange asks one upstream over UDP, and again over TCP when the answer was truncated.
func (f *forwarder) exchange(ctx context.Context, m *dns.Msg, upstream string) (*dns.Msg, error) {
	resp, _, err := f.udp.ExchangeContext(ctx, m, upstream)
	if err == nil && resp.Truncated {
		resp, _, err = f.tcp.ExchangeContext(ctx, m, upstream)
	}
	if err != nil {
		return nil, err
	}
	q := m.Question[0]
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, q.Name) ||
		resp.Question[0].Qtype != q.Qtype || resp.Question[0].Qclass != q.Qclass {
		return nil, fmt.Errorf("answer for another question: %v", resp.Question)
	}
	return resp, nil
}

// resolvConfUpstreams reads the nameservers of a resolv.conf file as host:port.
func resolvConfUpstreams(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read upstream resolvers: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// hostPort adds the DNS port to an upstream given without one.
func hostPort(upstream string) string {
	if _, _, err := net.SplitHostPort(upstream); err == nil {
		return upstream
	}
	return net.JoinHostPort(strings.Trim(upstream, "[]"), "53")
}
