package router

import (
	"cmp"
	"slices"
	"time"
)

// TargetHealth is the state and recent record of one target (a provider
// and an upstream model), for GET /admin/providers.
type TargetHealth struct {
	// Provider is the configured provider name.
	Provider string
	// Type is the provider's configured type; it may be empty.
	Type string
	// Model is the upstream model.
	Model string
	// PublicModels are the public model names that route to the target,
	// sorted; a "provider/model" address that was used counts as one.
	PublicModels []string
	// State is the breaker's state. An open breaker whose cooldown has
	// passed is reported half-open: the next request will be a probe.
	State State
	// Requests and Errors count the upstream attempts over the rolling
	// window (Options.Window); client errors and cancellations are not
	// counted.
	Requests int
	Errors   int
	// ErrorRate is Errors/Requests, zero without requests.
	ErrorRate float64
	// Latency is an exponentially weighted moving average (alpha 0.2) of
	// the duration of successful calls since start, zero before the first
	// success. For streams it is the time to open the stream.
	Latency time.Duration
	// LastError describes the most recent failure (kind, status and the
	// client-safe message; never credentials); empty when none.
	LastError string
	// LastErrorAt is when it happened; zero when none.
	LastErrorAt time.Time
}

// Health reports every target that is configured or was addressed
// directly, sorted by provider and model.
func (t *Table) Health() []TargetHealth {
	now := t.opts.Now()
	bs := t.breakers.all()
	out := make([]TargetHealth, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.health(now))
	}
	slices.SortFunc(out, func(a, b TargetHealth) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model))
	})
	return out
}

// health snapshots b.
func (b *breaker) health(now time.Time) TargetHealth {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := TargetHealth{
		Provider:     b.provider.Name,
		Type:         b.provider.Type,
		Model:        b.model,
		PublicModels: slices.Clone(b.public),
		State:        b.state,
		Latency:      b.latency,
		LastError:    b.lastErr,
		LastErrorAt:  b.lastErrAt,
	}
	if h.State == StateOpen && now.Sub(b.openedAt) >= b.opts.Cooldown {
		h.State = StateHalfOpen
	}
	h.Requests, h.Errors = b.counts(now)
	if h.Requests > 0 {
		h.ErrorRate = float64(h.Errors) / float64(h.Requests)
	}
	return h
}
