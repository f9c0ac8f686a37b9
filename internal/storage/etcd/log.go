package etcd

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that hands etcd's zap entries to a slog.Handler, so that etcd logs
// where the rest of Gantry does. etcd is chatty at info level (dozens of lines per start), so its
// info becomes slog debug; its warnings and errors keep their level, except for those that are
// expected in the way Gantry runs it: a few warnings at every start (benign) and everything once
// the Server is closing (etcd reports its listeners closing as errors).
type slogCore struct {
	h       slog.Handler
	closing *atomic.Bool
}

var _ zapcore.Core = slogCore{}

// benign are warnings etcd logs when it starts that say nothing about a single private member.
var benign = map[string]bool{
	// The client socket is only for etcdctl.
	"Running http and grpc server on single port. This is not recommended for production.": true,
	// Authentication is not enabled; the socket is private to DataDir's owner.
	"simple token is not cryptographically signed": true,
	// On a new data directory etcd may try to record its storage version before its first
	// backend commit; it tries again later.
	"Failed to detect schema version":  true,
	"failed to update storage version": true,
}

func (c slogCore) level(e zapcore.Entry) slog.Level {
	if (c.closing.Load() || benign[e.Message]) && e.Level > zapcore.InfoLevel {
		return slog.LevelDebug
	}
	return slogLevel(e.Level)
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l < zapcore.InfoLevel:
		return slog.LevelDebug - 4
	case l == zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{h: c.h.WithAttrs(attrs(fields)), closing: c.closing}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.h.Enabled(context.Background(), c.level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, c.level(e), e.Message, 0)
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (slogCore) Sync() error { return nil }

// attrs converts zap fields to slog attributes, keeping their order.
func attrs(fields []zapcore.Field) []slog.Attr {
	out := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		// One field is one key, except for a few (errors) that add a second.
		for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
			out = append(out, slog.Any(k, enc.Fields[k]))
		}
	}
	return out
}
