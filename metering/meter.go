package metering

import (
	"context"
	"log/slog"
	"time"

	"github.com/tollgate-gw/tollgate/metering/limits"
	"github.com/tollgate-gw/tollgate/metering/pricing"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// Ledger receives the usage events to store; the ledger writer
// (metering/ledger) implements it. Record must not block for long.
type Ledger interface {
	Record(ev store.UsageEvent)
}

// Meter admits requests against their key's limits and meters what they
// used: before the upstream call it reserves a cheap, conservative estimate
// (limits.ReservationTokens: no tokenizer on the hot path) against the
// request, token and budget windows; afterwards it settles the reservation
// to the exact usage, or releases it when nothing was produced, prices the
// usage, and hands one usage event to the ledger. It is safe for
// concurrent use.
type Meter struct {
	// Limiter enforces the tiers' limits; nil admits everything.
	Limiter limits.Limiter
	// Prices returns a public model's price; nil means no model is priced.
	Prices func(model string) pricing.Price
	// Ledger stores the events; nil only logs them.
	Ledger Ledger
	// DefaultMaxTokens is reserved for the answer when the request sets no
	// limit; zero means limits' default (4096).
	DefaultMaxTokens int64
	// Logger reports limiter failures; nil means slog.Default().
	Logger *slog.Logger
}

// Admission is one admitted request's reservation. The zero value (no
// principal, no limiter) is valid.
type Admission struct {
	principal *keyring.Principal
	res       *limits.Reservation
	price     pricing.Price
}

// Admit reserves the estimate of a request by p for model. When the
// decision refuses, nothing was counted. A limiter that fails (Redis down)
// admits the request and logs: availability over strictness, documented.
func (m *Meter) Admit(ctx context.Context, p *keyring.Principal, model string, body []byte) (*Admission, limits.Decision, error) {
	adm := &Admission{principal: p, price: m.price(model)}
	if p == nil || m.Limiter == nil {
		return adm, limits.Decision{Allowed: true}, nil
	}
	tokens := limits.ReservationTokens(body, 0, m.DefaultMaxTokens)
	dec, res, err := m.Limiter.Reserve(ctx, limits.Request{
		KeyID: p.KeyID, CustomerID: p.CustomerID, Policy: limits.PolicyFromTier(p.Tier),
		Tokens: tokens, CostPicos: adm.price.Estimate(tokens),
	})
	if err != nil {
		m.logger().Warn("limiter unavailable; admitting without limits", "key_id", p.KeyID, "error", err)
		return adm, limits.Decision{Allowed: true}, nil
	}
	adm.res = res
	return adm, dec, nil
}

func (m *Meter) price(model string) pricing.Price {
	if m.Prices == nil {
		return pricing.Price{}
	}
	return m.Prices(model)
}

func (m *Meter) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// Done settles a request: the reservation becomes the exact usage (or is
// released when nothing was produced) and the usage event goes to the
// ledger. It is called exactly once per request that reached a provider
// or the cache, with a context the client's departure does not cancel.
func (m *Meter) Done(ctx context.Context, adm *Admission, ev *Event) {
	cost, priced := adm.price.Cost(ev.Usage)
	if ev.CacheHit {
		cost = 0
	}
	if adm.res != nil && m.Limiter != nil {
		var err error
		if ev.Usage.TotalTokens == 0 && ev.Usage.PromptTokens == 0 {
			err = m.Limiter.Release(ctx, adm.res)
		} else {
			err = m.Limiter.Settle(ctx, adm.res, int64(ev.Usage.TotalTokens), cost)
		}
		if err != nil {
			m.logger().Warn("limiter settle failed", "request_id", ev.RequestID, "error", err)
		}
	}
	if adm.principal != nil {
		ev.KeyID, ev.CustomerID = adm.principal.KeyID, adm.principal.CustomerID
	}
	if m.Ledger == nil {
		LogRecorder{Logger: m.Logger}.Record(ctx, ev)
		return
	}
	m.Ledger.Record(store.UsageEvent{
		RequestID: ev.RequestID, ClientRequestID: ev.ClientRequestID, KeyID: ev.KeyID, CustomerID: ev.CustomerID,
		Model: ev.Model, Provider: ev.Provider, UpstreamModel: ev.UpstreamModel, Endpoint: ev.Endpoint,
		PromptTokens: int64(ev.Usage.PromptTokens), CompletionTokens: int64(ev.Usage.CompletionTokens),
		CachedTokens: int64(ev.Usage.CachedTokens), CostPicos: cost, Priced: priced,
		Estimated: ev.Usage.Estimated, CacheHit: ev.CacheHit, Stream: ev.Stream, Status: ev.Status,
		LatencyMS: ev.Latency.Milliseconds(), CreatedAt: ev.Start.UTC().Truncate(time.Microsecond),
	})
}
