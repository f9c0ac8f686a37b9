package bench

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

// apiResult is what API measured; zero figures were not measured.
type apiResult struct {
	opts         APIOptions
	server       string
	responseType string

	startup, stop, restart     time.Duration
	rssStart, rssPods, peakRSS int64
	rssRestart                 int64
	create                     createResult
	list                       listResult
	watch                      watchResult
}

// write prints the figures as a table.
func (r *apiResult) write(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "gantry bench api: %d pods, %d creating clients, %d watchers, %d updates (%d CPUs, %s/%s)\n",
		o.Pods, o.Clients, o.Watchers, o.Updates, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if r.server != "" {
		fmt.Fprintf(w, "server: %s\n", r.server)
	}
	if r.responseType != "" {
		fmt.Fprintf(w, "clients send protobuf; the server answers them with %s\n", r.responseType)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("MEASURE", "RESULT")
	if r.startup > 0 {
		row("start to /readyz OK, empty data dir", ms(r.startup))
	}
	if r.rssStart > 0 {
		row("server RSS after start", mib(r.rssStart))
	}
	if c := r.create; len(c.latency) > 0 {
		row(fmt.Sprintf("pod create throughput, %d clients", c.clients),
			fmt.Sprintf("%.0f pods/s (%d in %s)", c.perSecond(), c.pods, seconds(c.wall)))
		row("pod create latency p50 / p99", ms(c.latency.percentile(50))+" / "+ms(c.latency.percentile(99)))
	}
	if r.rssPods > 0 {
		row(fmt.Sprintf("server RSS with %d pods", r.create.pods), mib(r.rssPods))
	}
	if l := r.list; len(l.whole) > 0 {
		row(fmt.Sprintf("LIST %d pods, JSON, one request, p50 of %d", l.items, len(l.whole)), spread(l.whole))
		row(fmt.Sprintf("  (the same, body read but not decoded; %s)", mib(int64(l.bytes))), spread(l.raw))
	}
	if l := r.list; len(l.paged) > 0 {
		row(fmt.Sprintf("LIST %d pods, JSON, pages of %d, p50 of %d", l.items, listPageSize, len(l.paged)), spread(l.paged))
	}
	if l := r.list; len(l.proto) > 0 {
		row(fmt.Sprintf("LIST %d pods, protobuf client, one request, p50 of %d", l.items, len(l.proto)), spread(l.proto))
		row(fmt.Sprintf("  (answered as %s; %s)", l.protoType, mib(int64(l.protoBytes))), "")
	}
	if wr := r.watch; len(wr.last) > 0 {
		row(fmt.Sprintf("watch delivery, each of %d watchers, p50 / p99", wr.watchers),
			ms(wr.delivery.percentile(50))+" / "+ms(wr.delivery.percentile(99)))
		row(fmt.Sprintf("watch delivery, last of %d watchers, p50 / p99", wr.watchers),
			ms(wr.last.percentile(50))+" / "+ms(wr.last.percentile(99)))
		row(fmt.Sprintf("  (the write itself, acknowledged, p50 / p99 of %d)", len(wr.write)),
			ms(wr.write.percentile(50))+" / "+ms(wr.write.percentile(99)))
	}
	if r.peakRSS > 0 {
		row("server peak RSS (VmHWM) over the run", mib(r.peakRSS))
	}
	if r.stop > 0 {
		row("SIGTERM to exit", ms(r.stop))
	}
	if r.restart > 0 {
		row(fmt.Sprintf("restart to /readyz OK, %d pods stored", r.create.pods), ms(r.restart))
	}
	if r.rssRestart > 0 {
		row("server RSS after restart", mib(r.rssRestart))
	}
	tw.Flush()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// spread is the median of l with its extremes.
func spread(l latencies) string {
	return fmt.Sprintf("%s (min %s, max %s)", ms(l.percentile(50)), ms(l.percentile(0)), ms(l.percentile(100)))
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mib(bytes int64) string {
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}
