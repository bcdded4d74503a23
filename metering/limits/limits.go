// Package limits enforces Tollgate's rate limits and quotas: requests and
// tokens per minute and per day for each key, and a monthly budget in USD
// for each customer across all its keys (CONTRACT §3 and §4).
//
// # Windows
//
// Every limit counts in a fixed window aligned to UTC: the minute (rpm,
// tpm), the day (rpd, tpd) and the calendar month (budget). A window
// starts empty when the clock enters it; nothing slides. A refused request
// learns, in Decision.RetryAfter, the time until the window that refused it
// ends, rounded up to whole seconds. Fixed windows are what OpenAI's
// x-ratelimit-reset-* headers describe and can be held exactly in one
// Redis script; their known weakness, up to twice the limit across a
// window boundary, is accepted.
//
// # Reservations
//
// A request's tokens and cost are not known until its answer is done, yet
// fifty requests arriving at once must not spend more than the limit
// allows. So admission reserves: Reserve checks every limit atomically
// and, when all pass, counts the request and adds an estimate of its
// tokens (Request.Tokens) and cost (Request.CostPicos) to every window that
// limits them. Settle later replaces the estimate with the figures the
// upstream reported. The answer may exceed its estimate; the window then
// goes over its limit, which is fine: the next requests are refused until
// it resets, and the usage ledger records the truth. Release, for a request
// that failed upstream, returns the reserved tokens and cost but keeps the
// request counted, as OpenAI and most gateways do: a failed call still used
// a request slot, and not counting it would let a client hammer a failing
// upstream without limit. A refused request counts nowhere.
//
// An estimate larger than a limit itself is capped at that limit, so a
// single large request is admitted into an empty window (and refused only
// while the window holds something else) instead of being refused forever.
//
// # Estimates
//
// The hot path does not tokenize: tiktoken costs about 0.8 ms of CPU per
// 1,000 prompt tokens, ten times the gateway's whole budget per request.
// EstimatePromptTokens derives a conservative figure from the byte make-up
// of the request body in one pass, and ReservationTokens adds the largest
// answer the request may produce. The ratios, why they are safe and
// where they are not, are documented with BytesPerToken.
//
// # Implementations
//
// Memory holds the counters in process; Redis holds them in Redis, so that
// replicas share them exactly (one script per Reserve, one round trip).
// Both pass the same conformance suite. A limit of 0 means unlimited, and
// an unlimited window is not counted at all.
package limits

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// Names of the limits, as Decision.Limit reports them.
const (
	LimitRPM    = "rpm"
	LimitRPD    = "rpd"
	LimitTPM    = "tpm"
	LimitTPD    = "tpd"
	LimitBudget = "budget"
)

// PicosPerMicro converts a budget in micro-USD to pico-USD, the unit of
// usage costs.
const PicosPerMicro = 1_000_000

// Policy is the set of limits one request is checked against. Zero means
// unlimited. Request and token limits count per key; the budget counts per
// customer, across its keys, per calendar month (UTC).
type Policy struct {
	// RPM and RPD limit requests per minute and per day.
	RPM, RPD int64
	// TPM and TPD limit tokens (prompt plus completion) per minute and per
	// day.
	TPM, TPD int64
	// BudgetMicros limits the customer's spend per calendar month, in
	// micro-USD.
	BudgetMicros int64
}

// PolicyFromTier returns the limits of a tier. The gateway passes the
// key's effective tier (its own, else its customer's); the budget is then
// checked against the customer's spend across all its keys.
func PolicyFromTier(t store.Tier) Policy {
	return Policy{RPM: t.RPM, RPD: t.RPD, TPM: t.TPM, TPD: t.TPD, BudgetMicros: t.MonthlyBudgetMicros}
}

// budgetPicos returns the budget in pico-USD, saturating instead of
// overflowing (a budget above about 9.2 million USD is unlimited in
// practice).
func (p Policy) budgetPicos() int64 {
	const maxMicros = (1<<63 - 1) / PicosPerMicro
	if p.BudgetMicros > maxMicros {
		return maxMicros * PicosPerMicro
	}
	return p.BudgetMicros * PicosPerMicro
}

// Request is one admission check.
type Request struct {
	// KeyID identifies the key whose request and token windows count.
	KeyID string
	// CustomerID identifies the customer whose monthly budget counts; with
	// an empty CustomerID the budget is not checked.
	CustomerID string
	// Policy holds the limits.
	Policy Policy
	// Tokens is the reservation estimate of the request's total tokens
	// (see ReservationTokens).
	Tokens int64
	// CostPicos is the reservation estimate of the request's cost in
	// pico-USD (1e-12 USD).
	CostPicos int64
}

// Decision is the outcome of Reserve.
type Decision struct {
	// Allowed reports whether every limit passed.
	Allowed bool
	// Limit names the limit that refused (LimitRPM, …, LimitBudget); when
	// several refuse, the one whose window resets last, since the request
	// cannot pass before then. Empty when allowed.
	Limit string
	// RetryAfter is the time until the refusing window resets, rounded up
	// to whole seconds and at least one second. Zero when allowed.
	RetryAfter time.Duration
	// Quota is true when a daily or monthly quota refused (rpd, tpd,
	// budget: the client gets 429 insufficient_quota) and false for a
	// per-minute limit (rpm, tpm: 429 rate_limit_exceeded).
	Quota bool
	// Headers are the per-minute figures for the x-ratelimit-* headers.
	Headers Headers
}

// RetryAfterSeconds returns RetryAfter in whole seconds, for the
// Retry-After header.
func (d Decision) RetryAfterSeconds() int64 {
	return int64((d.RetryAfter + time.Second - 1) / time.Second)
}

// Headers are the figures of OpenAI's x-ratelimit-* headers for the
// per-minute limits (CONTRACT §3). Remaining counts include this request
// (and its token reservation) when it was admitted.
type Headers struct {
	LimitRequests, RemainingRequests int64
	// ResetRequests is the time until the minute window ends.
	ResetRequests                time.Duration
	LimitTokens, RemainingTokens int64
	// ResetTokens is the time until the minute window ends.
	ResetTokens time.Duration
	// HasRequests and HasTokens report whether the policy sets RPM and
	// TPM; headers are sent only for limits that are set.
	HasRequests, HasTokens bool
}

// Apply calls set once for every x-ratelimit-* header the figures
// describe, with OpenAI's names (in canonical form, so that an
// http.Header's Set, which set typically is, keeps them without
// allocating a canonical copy) and formats.
func (h Headers) Apply(set func(name, value string)) {
	if h.HasRequests {
		set("X-Ratelimit-Limit-Requests", strconv.FormatInt(h.LimitRequests, 10))
		set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(h.RemainingRequests, 10))
		set("X-Ratelimit-Reset-Requests", FormatReset(h.ResetRequests))
	}
	if h.HasTokens {
		set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(h.LimitTokens, 10))
		set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(h.RemainingTokens, 10))
		set("X-Ratelimit-Reset-Tokens", FormatReset(h.ResetTokens))
	}
}

// FormatReset formats a reset duration as OpenAI does: Go's duration
// syntax ("20ms", "12s", "1m0s", "6m0s"). Durations under a second are
// rounded up to whole milliseconds and longer ones up to whole seconds, so
// a client that waits as told never comes back early; zero or less is
// "0s".
func FormatReset(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return ceil(d, time.Millisecond).String()
	default:
		return ceil(d, time.Second).String()
	}
}

// ceil rounds d up to a multiple of unit.
func ceil(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		d += unit - r
	}
	return d
}

// Limiter checks and counts requests. Implementations are safe for
// concurrent use.
type Limiter interface {
	// Reserve checks every limit of req atomically. When all pass it
	// counts the request and reserves req.Tokens and req.CostPicos in
	// every window that limits them, and returns a Reservation to settle
	// or release; when any refuses nothing is counted and the Reservation
	// is nil. An error means no decision was made (the limits could not be
	// read); the caller chooses whether to fail open or closed.
	Reserve(ctx context.Context, req Request) (Decision, *Reservation, error)
	// Settle replaces the reserved amounts by the actual tokens and cost,
	// which may be more or less than reserved. Windows never go below
	// zero. Settling or releasing a Reservation a second time, or a nil
	// one, does nothing.
	Settle(ctx context.Context, r *Reservation, tokens int64, costPicos int64) error
	// Release returns the reserved tokens and cost, for a request that
	// failed before using any; the request itself stays counted.
	Release(ctx context.Context, r *Reservation) error
}

// Reservation is what one admitted request holds in its windows. It is
// returned by Reserve and passed to exactly one Settle or Release of the
// same Limiter; later calls do nothing.
type Reservation struct {
	keyID, customerID string
	// minute, day and month are the starts of the windows counted, in
	// Unix seconds.
	minute, day, month int64
	// tpm, tpd and cost are the amounts reserved (estimates capped at the
	// limits) in the windows that track them.
	tpm, tpd, cost int64
	track          track
	// keys are the Redis keys of the minute, day and month counters.
	keys []string
	done atomic.Bool
}

// finish marks r as settled; it reports false when r is nil, tracks no
// amount, or was settled before.
func (r *Reservation) finish() bool {
	if r == nil || !r.done.CompareAndSwap(false, true) {
		return false
	}
	return r.track&(trackMinuteTokens|trackDayTokens|trackBudget) != 0
}

// deltas returns the settlement's changes to the minute tokens, day tokens
// and budget spend; untracked counters get zero.
func (r *Reservation) deltas(tokens, costPicos int64) (minute, day, cost int64) {
	tokens, costPicos = max(tokens, 0), max(costPicos, 0)
	if r.track&trackMinuteTokens != 0 {
		minute = tokens - r.tpm
	}
	if r.track&trackDayTokens != 0 {
		day = tokens - r.tpd
	}
	if r.track&trackBudget != 0 {
		cost = costPicos - r.cost
	}
	return minute, day, cost
}

// track says which counters a request touches.
type track uint8

const (
	trackMinuteRequests track = 1 << iota
	trackMinuteTokens
	trackDayRequests
	trackDayTokens
	trackBudget
)

// refusal bits, as the Redis script returns them.
const (
	refusedRPM uint8 = 1 << iota
	refusedTPM
	refusedRPD
	refusedTPD
	refusedBudget
)

// newReservation returns the reservation req would make in the windows w:
// what it tracks and the capped amounts.
func newReservation(req Request, w windows) *Reservation {
	p := req.Policy
	r := &Reservation{keyID: req.KeyID, customerID: req.CustomerID, minute: w.minute, day: w.day, month: w.month}
	tokens, cost := max(req.Tokens, 0), max(req.CostPicos, 0)
	if p.RPM > 0 {
		r.track |= trackMinuteRequests
	}
	if p.TPM > 0 {
		r.track |= trackMinuteTokens
		r.tpm = min(tokens, p.TPM)
	}
	if p.RPD > 0 {
		r.track |= trackDayRequests
	}
	if p.TPD > 0 {
		r.track |= trackDayTokens
		r.tpd = min(tokens, p.TPD)
	}
	if p.BudgetMicros > 0 && req.CustomerID != "" {
		r.track |= trackBudget
		r.cost = min(cost, p.budgetPicos())
	}
	return r
}

// windows are the window starts at one instant.
type windows struct {
	now time.Time
	// minute, day and month are window starts in Unix seconds.
	minute, day, month int64
}

// windowsAt returns the windows that contain t.
func windowsAt(t time.Time) windows {
	t = t.UTC()
	s := t.Unix()
	y, m, _ := t.Date()
	return windows{
		now:    t,
		minute: s - mod(s, 60),
		day:    s - mod(s, 86400),
		month:  time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix(),
	}
}

// mod is the non-negative remainder of a / b.
func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

func (w windows) minuteEnd() time.Time { return time.Unix(w.minute+60, 0) }
func (w windows) dayEnd() time.Time    { return time.Unix(w.day+86400, 0) }
func (w windows) monthEnd() time.Time  { return monthStart(w.month).AddDate(0, 1, 0) }

// monthStart returns the month window starting at Unix second s.
func monthStart(s int64) time.Time { return time.Unix(s, 0).UTC() }

// decide builds the Decision from the refusal bits and the minute
// window's request and token counts (after this request when admitted).
func decide(p Policy, refused uint8, w windows, minuteRequests, minuteTokens int64) Decision {
	d := Decision{Allowed: refused == 0}
	reset := w.minuteEnd().Sub(w.now)
	if p.RPM > 0 {
		d.Headers.HasRequests = true
		d.Headers.LimitRequests = p.RPM
		d.Headers.RemainingRequests = max(p.RPM-minuteRequests, 0)
		d.Headers.ResetRequests = reset
	}
	if p.TPM > 0 {
		d.Headers.HasTokens = true
		d.Headers.LimitTokens = p.TPM
		d.Headers.RemainingTokens = max(p.TPM-minuteTokens, 0)
		d.Headers.ResetTokens = reset
	}
	if refused == 0 {
		return d
	}
	// The window that ends last first: month ≥ day ≥ minute.
	var end time.Time
	switch {
	case refused&refusedBudget != 0:
		d.Limit, d.Quota, end = LimitBudget, true, w.monthEnd()
	case refused&refusedRPD != 0:
		d.Limit, d.Quota, end = LimitRPD, true, w.dayEnd()
	case refused&refusedTPD != 0:
		d.Limit, d.Quota, end = LimitTPD, true, w.dayEnd()
	case refused&refusedRPM != 0:
		d.Limit, end = LimitRPM, w.minuteEnd()
	default:
		d.Limit, end = LimitTPM, w.minuteEnd()
	}
	d.RetryAfter = max(ceil(end.Sub(w.now), time.Second), time.Second)
	return d
}

// SpendLoader returns a customer's spend in pico-USD since monthStart (the
// store's SpendSince). Limiters call it once per customer and month, so
// that a restart does not forget the month's spend.
type SpendLoader func(ctx context.Context, customerID string, monthStart time.Time) (picos int64, err error)

// Options configure a limiter. The zero value works.
type Options struct {
	// Now is the clock that places requests in windows; nil means
	// time.Now. Tests inject a fake one.
	Now func() time.Time
	// SpendLoader seeds each customer's monthly spend; nil means every
	// month starts at zero.
	SpendLoader SpendLoader
	// Prefix starts every Redis key; empty means DefaultPrefix. Memory
	// ignores it.
	Prefix string
	// Logger reports settlements that failed in the background; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultPrefix starts the Redis keys when Options.Prefix is empty.
const DefaultPrefix = "tg:lim:"
