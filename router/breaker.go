package router

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// State is a circuit breaker's state.
type State string

// The breaker states.
const (
	// StateClosed lets all traffic through.
	StateClosed State = "closed"
	// StateOpen refuses traffic until the cooldown has passed.
	StateOpen State = "open"
	// StateHalfOpen lets one probe request through at a time: its success
	// closes the breaker, its failure opens it again.
	StateHalfOpen State = "half_open"
)

// maxDirectBreakers bounds the breakers made for "provider/model" addresses,
// whose model part the client chooses; beyond it such targets go without a
// breaker (and without health).
const maxDirectBreakers = 1024

// numBuckets is how many buckets the rolling window is cut into.
const numBuckets = 10

// outcome is what an attempt says about its target's health.
type outcome int

const (
	// ignored: the client's own mistake or departure; says nothing.
	ignored outcome = iota
	success
	failure
)

// bucket counts the attempts of one slice of the window.
type bucket struct {
	start    time.Time
	requests int
	errors   int
}

// breaker is the circuit breaker and health record of one target. Its
// mutex is held only for a few field updates.
type breaker struct {
	provider *Provider
	model    string
	opts     *Options

	mu          sync.Mutex
	public      []string
	state       State
	consecutive int
	openedAt    time.Time
	probing     bool
	buckets     [numBuckets]bucket
	latency     time.Duration // EWMA of successful calls
	lastErr     string
	lastErrAt   time.Time
}

// breakerKey identifies a target.
type breakerKey struct{ provider, model string }

// breakers holds the breaker of every target, made on first use.
type breakers struct {
	m      sync.Map // breakerKey → *breaker
	direct atomic.Int64
}

func newBreakers() *breakers { return &breakers{} }

// get returns the breaker of p's model, making it when needed. A direct
// ("provider/model") target gets none once maxDirectBreakers were made.
func (bs *breakers) get(p *Provider, model string, opts *Options, configured bool) *breaker {
	k := breakerKey{p.Name, model}
	if b, ok := bs.m.Load(k); ok {
		return b.(*breaker)
	}
	if !configured && bs.direct.Add(1) > maxDirectBreakers {
		bs.direct.Add(-1)
		return nil
	}
	b, loaded := bs.m.LoadOrStore(k, &breaker{provider: p, model: model, opts: opts, state: StateClosed})
	if loaded && !configured {
		bs.direct.Add(-1)
	}
	return b.(*breaker)
}

// all returns every breaker.
func (bs *breakers) all() []*breaker {
	var out []*breaker
	bs.m.Range(func(_, v any) bool {
		out = append(out, v.(*breaker))
		return true
	})
	return out
}

// addPublic notes a public model name that routes to the target.
func (b *breaker) addPublic(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.public, name) {
		b.public = append(b.public, name)
		slices.Sort(b.public)
	}
}

// available reports, without claiming anything, whether allow would
// probably let a request through now.
func (b *breaker) available(now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case StateOpen:
		return now.Sub(b.openedAt) >= b.opts.Cooldown
	case StateHalfOpen:
		return !b.probing
	}
	return true
}

// allow reports whether a request may go to the target now. In the
// half-open state (entered when the cooldown of an open breaker has
// passed) it lets one probe through at a time; probe reports that this
// request is it, and its outcome must be passed to record.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	if b == nil {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateOpen && now.Sub(b.openedAt) >= b.opts.Cooldown {
		b.state = StateHalfOpen
		b.probing = false
	}
	switch b.state {
	case StateOpen:
		return false, false
	case StateHalfOpen:
		if b.probing {
			return false, false
		}
		b.probing = true
		return true, true
	}
	return true, false
}

// record notes an attempt's outcome and moves the breaker accordingly.
func (b *breaker) record(now time.Time, o outcome, probe bool, latency time.Duration, err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if o == ignored {
		return
	}
	bk := b.bucket(now)
	bk.requests++
	if o == success {
		b.consecutive = 0
		if b.latency == 0 {
			b.latency = latency
		} else {
			b.latency += (latency - b.latency) / 5 // EWMA, alpha 0.2
		}
		if b.state == StateHalfOpen && probe {
			b.state = StateClosed
			b.buckets = [numBuckets]bucket{}
		}
		return
	}
	bk.errors++
	b.consecutive++
	b.lastErr, b.lastErrAt = errorSummary(err), now
	switch b.state {
	case StateHalfOpen:
		b.open(now)
	case StateClosed:
		req, errs := b.counts(now)
		if b.consecutive >= b.opts.FailureThreshold ||
			(req >= b.opts.MinRequests && float64(errs) >= b.opts.ErrorRate*float64(req)) {
			b.open(now)
		}
	}
}

// open opens the breaker; the cooldown starts now.
func (b *breaker) open(now time.Time) {
	b.state, b.openedAt, b.probing = StateOpen, now, false
}

// bucket returns the window bucket for now, recycling a stale one. The
// caller holds b.mu.
func (b *breaker) bucket(now time.Time) *bucket {
	width := b.opts.Window / numBuckets
	start := now.Truncate(width)
	bk := &b.buckets[(start.UnixNano()/int64(width))%numBuckets]
	if !bk.start.Equal(start) {
		*bk = bucket{start: start}
	}
	return bk
}

// counts sums the requests and errors of the window ending now. The caller
// holds b.mu.
func (b *breaker) counts(now time.Time) (requests, errors int) {
	for i := range b.buckets {
		bk := &b.buckets[i]
		if age := now.Sub(bk.start); age >= 0 && age < b.opts.Window {
			requests += bk.requests
			errors += bk.errors
		}
	}
	return requests, errors
}

// errorSummary describes a failure for Health without the underlying
// cause, which could carry URLs or upstream text: the kind, status and the
// client-safe message of a provider.Error.
func errorSummary(err error) string {
	pe, ok := provider.AsError(err)
	if !ok {
		return "error"
	}
	s := pe.Kind.String()
	if pe.Status != 0 {
		s += " (status " + strconv.Itoa(pe.Status) + ")"
	}
	if pe.Message != "" {
		s += ": " + pe.Message
	}
	return s
}
