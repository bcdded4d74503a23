package router

import (
	"context"
	"time"
)

// The defaults that zero Options fields stand for.
const (
	DefaultMaxRetries       = 2
	DefaultBackoffBase      = 100 * time.Millisecond
	DefaultBackoffMax       = 2 * time.Second
	DefaultFailureThreshold = 5
	DefaultErrorRate        = 0.5
	DefaultMinRequests      = 20
	DefaultWindow           = 30 * time.Second
	DefaultCooldown         = 30 * time.Second
)

// Options tune retries and circuit breakers. The zero value gives the
// defaults above.
type Options struct {
	// MaxRetries is how many times a failed request is retried per public
	// model (its targets included) before the model's fallbacks are tried:
	// zero means DefaultMaxRetries, a negative value means none.
	MaxRetries int
	// BackoffBase is the first retry's backoff; it doubles with every
	// retry up to BackoffMax. The wait is jittered between half and all of
	// it.
	BackoffBase time.Duration
	// BackoffMax caps the backoff; an upstream Retry-After longer than it
	// is not waited for: the router moves on to another target or to a
	// fallback instead.
	BackoffMax time.Duration
	// FailureThreshold is how many consecutive failures open a breaker.
	FailureThreshold int
	// ErrorRate opens a breaker when the share of failures over Window
	// reaches it, once MinRequests requests were seen in the window; a
	// value above 1 turns the rule off.
	ErrorRate float64
	// MinRequests is the smallest window the ErrorRate rule judges.
	MinRequests int
	// Window is the rolling window of the error rate and of Health.
	Window time.Duration
	// Cooldown is how long an open breaker refuses traffic before it lets
	// one probe through (half-open).
	Cooldown time.Duration
	// Now is the clock of breakers and health; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, whichever comes first, and
	// returns ctx's error in the second case; nil means a timer. Tests
	// replace it so that backoff takes no real time.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = DefaultFailureThreshold
	}
	if o.ErrorRate <= 0 {
		o.ErrorRate = DefaultErrorRate
	}
	if o.MinRequests <= 0 {
		o.MinRequests = DefaultMinRequests
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
