// Package metering is where usage leaves the request path. Every request
// that reached a provider (or, later, the cache) produces exactly one Event,
// handed to a Recorder once the answer is complete, failed or cut off.
//
// The gateway core calls Recorder.Record from one place per request; quota
// settlement and the usage ledger attach here.
package metering

import (
	"context"
	"log/slog"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// Event is the usage of one request.
type Event struct {
	// RequestID is the gateway's own id of the request, unique: the
	// ledger's idempotency key.
	RequestID string
	// ClientRequestID is the X-Request-ID the client sent, if any (then it
	// is also the x-request-id answered); it need not be unique.
	ClientRequestID string
	// KeyID and CustomerID identify who is billed; empty until keys exist.
	KeyID      string
	CustomerID string
	// Endpoint is "chat.completions" or "embeddings".
	Endpoint string
	// Model is the public model the client asked for.
	Model string
	// Provider and UpstreamModel say who answered: the configured
	// provider name and the model the upstream reported.
	Provider      string
	UpstreamModel string
	// Usage holds the token counts; Usage.Estimated marks locally counted
	// figures.
	Usage provider.Usage
	// Stream reports whether the answer was streamed.
	Stream bool
	// CacheHit marks an answer served from the cache.
	CacheHit bool
	// Status is the HTTP status the client got (200 for a stream that
	// started, even if it broke off later).
	Status int
	// Err is set when the upstream failed or the stream broke off.
	Err error
	// ClientCanceled marks a client that went away before the end.
	ClientCanceled bool
	// Start is when the request arrived; Latency is its duration to the
	// last byte; UpstreamLatency is the time to the upstream's first byte.
	Start           time.Time
	Latency         time.Duration
	UpstreamLatency time.Duration
}

// Recorder receives usage events. Record is called once per request, after
// the client's answer is complete, with a context that is not cancelled by
// the client going away. Implementations must be safe for concurrent use and
// must not block the caller for long.
type Recorder interface {
	Record(ctx context.Context, ev *Event)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, ev *Event)

// Record calls f(ctx, ev).
func (f RecorderFunc) Record(ctx context.Context, ev *Event) { f(ctx, ev) }

// Discard is a Recorder that drops every event.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, *Event) {}

// LogRecorder logs each event at debug level. It is the recorder of a
// gateway without a usage ledger.
type LogRecorder struct {
	// Logger receives the events; nil means slog.Default().
	Logger *slog.Logger
}

// Record logs ev.
func (r LogRecorder) Record(ctx context.Context, ev *Event) {
	l := r.Logger
	if l == nil {
		l = slog.Default()
	}
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.LogAttrs(ctx, slog.LevelDebug, "usage",
		slog.String("request_id", ev.RequestID),
		slog.String("model", ev.Model),
		slog.String("provider", ev.Provider),
		slog.String("upstream_model", ev.UpstreamModel),
		slog.Int("prompt_tokens", ev.Usage.PromptTokens),
		slog.Int("completion_tokens", ev.Usage.CompletionTokens),
		slog.Bool("estimated", ev.Usage.Estimated),
	)
}
