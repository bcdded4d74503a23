package limits

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The conformance suite every Limiter must pass (Memory and Redis run it).

// t0 is the suite's start: mid-minute, mid-day, mid-month.
var t0 = time.Date(2025, 5, 14, 10, 20, 30, 0, time.UTC)

// Durations from t0 to the ends of its windows.
const (
	toMinuteEnd = 30 * time.Second
	toDayEnd    = 13*time.Hour + 39*time.Minute + 30*time.Second
	toMonthEnd  = 17*24*time.Hour + toDayEnd
)

// fakeClock is an injectable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newLimiterFunc builds a fresh, empty Limiter with opts' clock and spend
// loader; it registers its own cleanup.
type newLimiterFunc func(t *testing.T, opts Options) Limiter

// spendLoader is a SpendLoader for tests that records its calls.
type spendLoader struct {
	mu    sync.Mutex
	spend map[string]int64
	err   error
	calls []string // "customer@2025-05-01"
	delay time.Duration
}

func (s *spendLoader) Load(ctx context.Context, customerID string, monthStart time.Time) (int64, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, customerID+"@"+monthStart.Format(time.DateOnly))
	if s.err != nil {
		return 0, s.err
	}
	return s.spend[customerID], nil
}

func (s *spendLoader) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// env is one suite test's limiter, clock and loader.
type env struct {
	t      *testing.T
	l      Limiter
	clock  *fakeClock
	loader *spendLoader
}

func newEnv(t *testing.T, newLimiter newLimiterFunc) *env {
	e := &env{t: t, clock: &fakeClock{t: t0}, loader: &spendLoader{spend: map[string]int64{}}}
	e.l = newLimiter(t, Options{Now: e.clock.Now, SpendLoader: e.loader.Load})
	return e
}

func (e *env) reserve(req Request) (Decision, *Reservation) {
	e.t.Helper()
	d, r, err := e.l.Reserve(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Reserve(%+v): %v", req, err)
	}
	if d.Allowed != (r != nil) {
		e.t.Fatalf("Reserve(%+v): Allowed %v with reservation %v", req, d.Allowed, r)
	}
	return d, r
}

// allow reserves req and fails unless it is admitted.
func (e *env) allow(req Request) (Decision, *Reservation) {
	e.t.Helper()
	d, r := e.reserve(req)
	if !d.Allowed {
		e.t.Fatalf("Reserve(%+v) refused by %s, want allowed", req, d.Limit)
	}
	if d.Limit != "" || d.RetryAfter != 0 || d.Quota {
		e.t.Fatalf("allowed decision %+v has refusal fields", d)
	}
	return d, r
}

// refuse reserves req and fails unless limit refuses it as described.
func (e *env) refuse(req Request, limit string, quota bool, retryAfter time.Duration) Decision {
	e.t.Helper()
	d, _ := e.reserve(req)
	if d.Allowed {
		e.t.Fatalf("Reserve(%+v) allowed, want refused by %s", req, limit)
	}
	if d.Limit != limit || d.Quota != quota || d.RetryAfter != retryAfter {
		e.t.Fatalf("Reserve(%+v) = limit %q quota %v retry %v, want %q %v %v",
			req, d.Limit, d.Quota, d.RetryAfter, limit, quota, retryAfter)
	}
	return d
}

func (e *env) settle(r *Reservation, tokens, cost int64) {
	e.t.Helper()
	if err := e.l.Settle(context.Background(), r, tokens, cost); err != nil {
		e.t.Fatalf("Settle: %v", err)
	}
}

func (e *env) release(r *Reservation) {
	e.t.Helper()
	if err := e.l.Release(context.Background(), r); err != nil {
		e.t.Fatalf("Release: %v", err)
	}
}

// req is a request of key k1 of customer c1.
func req(p Policy, tokens, cost int64) Request {
	return Request{KeyID: "k1", CustomerID: "c1", Policy: p, Tokens: tokens, CostPicos: cost}
}

// runSuite runs the conformance suite against the limiters newLimiter
// builds.
func runSuite(t *testing.T, newLimiter newLimiterFunc) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"rpm", testRPM},
		{"rpd", testRPD},
		{"tpm", testTPM},
		{"tpd", testTPD},
		{"budget per customer", testBudget},
		{"requests and tokens per key", testPerKey},
		{"the window that resets last is named", testSeveralRefuse},
		{"a refused request counts nothing", testRefusedCountsNothing},
		{"large counts", testLargeCounts},
		{"estimate capped at the limit", testCapped},
		{"settle down and up", testSettle},
		{"settle budget", testSettleBudget},
		{"release keeps the request", testRelease},
		{"settle once", testSettleOnce},
		{"settle after rollover", testSettleAfterRollover},
		{"unlimited", testUnlimited},
		{"spend loader", testSpendLoader},
		{"spend loader error", testSpendLoaderError},
		{"headers", testHeaders},
		{"concurrent requests", testConcurrentRequests},
		{"concurrent tokens", testConcurrentTokens},
		{"concurrent budget", testConcurrentBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(newEnv(t, newLimiter))
		})
	}
}

func testRPM(e *env) {
	p := Policy{RPM: 3}
	for i := int64(1); i <= 3; i++ {
		d, _ := e.allow(req(p, 0, 0))
		want := Headers{HasRequests: true, LimitRequests: 3, RemainingRequests: 3 - i, ResetRequests: toMinuteEnd}
		if diff := cmp.Diff(want, d.Headers); diff != "" {
			e.t.Fatalf("request %d headers (-want +got):\n%s", i, diff)
		}
	}
	e.clock.Advance(500 * time.Millisecond)
	d := e.refuse(req(p, 0, 0), LimitRPM, false, 30*time.Second) // 29.5 s, rounded up
	if d.Headers.RemainingRequests != 0 || d.Headers.ResetRequests != toMinuteEnd-500*time.Millisecond {
		e.t.Fatalf("refused headers %+v", d.Headers)
	}
	e.clock.Advance(29 * time.Second)
	e.refuse(req(p, 0, 0), LimitRPM, false, time.Second) // 0.5 s: at least 1 s
	e.clock.Advance(500 * time.Millisecond)              // the next minute
	if d, _ := e.allow(req(p, 0, 0)); d.Headers.RemainingRequests != 2 || d.Headers.ResetRequests != time.Minute {
		e.t.Fatalf("new window headers %+v", d.Headers)
	}
}

func testRPD(e *env) {
	p := Policy{RPD: 2}
	e.allow(req(p, 0, 0))
	d, _ := e.allow(req(p, 0, 0))
	if d.Headers != (Headers{}) {
		e.t.Fatalf("headers without per-minute limits: %+v", d.Headers)
	}
	e.refuse(req(p, 0, 0), LimitRPD, true, toDayEnd)
	e.clock.Advance(time.Minute)
	e.refuse(req(p, 0, 0), LimitRPD, true, toDayEnd-time.Minute)
	e.clock.Advance(toDayEnd - time.Minute) // midnight
	e.allow(req(p, 0, 0))
	e.allow(req(p, 0, 0))
	e.refuse(req(p, 0, 0), LimitRPD, true, 24*time.Hour)
}

func testTPM(e *env) {
	p := Policy{TPM: 1000}
	for _, remaining := range []int64{600, 200} {
		d, _ := e.allow(req(p, 400, 0))
		want := Headers{HasTokens: true, LimitTokens: 1000, RemainingTokens: remaining, ResetTokens: toMinuteEnd}
		if diff := cmp.Diff(want, d.Headers); diff != "" {
			e.t.Fatalf("headers (-want +got):\n%s", diff)
		}
	}
	e.refuse(req(p, 400, 0), LimitTPM, false, toMinuteEnd)
	if d, _ := e.allow(req(p, 200, 0)); d.Headers.RemainingTokens != 0 {
		e.t.Fatalf("remaining %d, want 0", d.Headers.RemainingTokens)
	}
	e.refuse(req(p, 1, 0), LimitTPM, false, toMinuteEnd)
	e.clock.Advance(toMinuteEnd)
	e.allow(req(p, 1000, 0))
}

func testTPD(e *env) {
	p := Policy{TPD: 1000}
	e.allow(req(p, 400, 0))
	e.allow(req(p, 400, 0))
	e.refuse(req(p, 400, 0), LimitTPD, true, toDayEnd)
	e.clock.Advance(time.Hour) // other minutes do not help
	e.refuse(req(p, 201, 0), LimitTPD, true, toDayEnd-time.Hour)
	e.allow(req(p, 200, 0))
	e.clock.Advance(toDayEnd - time.Hour)
	e.allow(req(p, 1000, 0))
}

func testBudget(e *env) {
	p := Policy{BudgetMicros: 1} // 1,000,000 pico-USD
	k2 := Request{KeyID: "k2", CustomerID: "c1", Policy: p, CostPicos: 400_000}
	other := Request{KeyID: "k3", CustomerID: "c2", Policy: p, CostPicos: 400_000}
	e.allow(req(p, 0, 400_000))
	e.allow(k2)
	e.refuse(req(p, 0, 400_000), LimitBudget, true, toMonthEnd)
	e.refuse(k2, LimitBudget, true, toMonthEnd) // the customer's budget, across its keys
	e.allow(other)                              // another customer's budget
	k2.CostPicos = 200_000
	e.allow(k2) // exactly the budget
	k2.CostPicos = 1
	e.refuse(k2, LimitBudget, true, toMonthEnd)
	e.clock.Advance(toMonthEnd) // June
	e.allow(req(p, 0, 1_000_000))
	e.refuse(k2, LimitBudget, true, 30*24*time.Hour)
}

func testPerKey(e *env) {
	p := Policy{RPM: 1, TPM: 100}
	e.allow(req(p, 100, 0))
	e.refuse(req(p, 0, 0), LimitRPM, false, toMinuteEnd)
	// Another key of the same customer has windows of its own.
	e.allow(Request{KeyID: "k2", CustomerID: "c1", Policy: p, Tokens: 100})
}

func testSeveralRefuse(e *env) {
	p := Policy{RPM: 1, RPD: 1, TPM: 10, BudgetMicros: 1}
	e.allow(req(p, 10, 1_000_000))
	e.refuse(req(p, 10, 1), LimitBudget, true, toMonthEnd)
	p.BudgetMicros = 0
	e.refuse(req(p, 10, 0), LimitRPD, true, toDayEnd)
	p.RPD = 0
	e.refuse(req(p, 10, 0), LimitRPM, false, toMinuteEnd)
	p.RPM = 0
	e.refuse(req(p, 10, 0), LimitTPM, false, toMinuteEnd)
}

func testRefusedCountsNothing(e *env) {
	p := Policy{RPM: 5, TPM: 100, RPD: 10, TPD: 1000, BudgetMicros: 1}
	e.allow(req(p, 60, 600_000))
	e.refuse(req(p, 60, 0), LimitTPM, false, toMinuteEnd)
	e.refuse(req(p, 0, 600_000), LimitBudget, true, toMonthEnd)
	d, _ := e.allow(req(p, 40, 400_000))
	if d.Headers.RemainingRequests != 3 || d.Headers.RemainingTokens != 0 {
		e.t.Fatalf("headers %+v: the refused requests were counted", d.Headers)
	}
}

// testLargeCounts refuses and takes back amounts of 15 digits (a Lua
// number formatted with too few digits would lose them), then checks the
// windows kept the exact figures.
func testLargeCounts(e *env) {
	p := Policy{TPM: 1_000_000_000_000_000, TPD: 1_000_000_000_000_000}
	e.allow(req(p, 600_000_000_000_001, 0))
	e.refuse(req(p, 400_000_000_000_000, 0), LimitTPD, true, toDayEnd)
	d, _ := e.allow(req(p, 399_999_999_999_999, 0))
	if d.Headers.RemainingTokens != 0 {
		e.t.Fatalf("remaining %d tokens, want 0", d.Headers.RemainingTokens)
	}
}

func testCapped(e *env) {
	p := Policy{TPM: 100, TPD: 150, BudgetMicros: 1}
	_, r := e.allow(req(p, 500, 5_000_000)) // more than every limit: capped
	e.allow(req(p, 0, 0))                   // full, but nothing more is asked
	e.refuse(req(p, 1, 1), LimitBudget, true, toMonthEnd)
	p.BudgetMicros = 0
	e.refuse(req(p, 1, 0), LimitTPD, true, toDayEnd)
	e.settle(r, 30, 0) // minute 30, day 30
	_, r = e.allow(req(p, 70, 0))
	e.settle(r, 70, 0) // minute 100, day 100
	e.refuse(req(p, 1, 0), LimitTPM, false, toMinuteEnd)
	e.clock.Advance(toMinuteEnd)
	e.refuse(req(p, 51, 0), LimitTPD, true, toDayEnd-toMinuteEnd)
	e.allow(req(p, 50, 0))
}

func testSettle(e *env) {
	p := Policy{TPM: 1000}
	_, r := e.allow(req(p, 500, 0))
	e.settle(r, 100, 0) // down: 400 back
	d, r := e.allow(req(p, 900, 0))
	if d.Headers.RemainingTokens != 0 {
		e.t.Fatalf("remaining %d, want 0", d.Headers.RemainingTokens)
	}
	e.settle(r, 1500, 0) // up: the window goes over its limit
	e.refuse(req(p, 0, 0), LimitTPM, false, toMinuteEnd)
	e.clock.Advance(toMinuteEnd)
	e.allow(req(p, 1000, 0))
}

func testSettleBudget(e *env) {
	p := Policy{BudgetMicros: 1}
	_, r := e.allow(req(p, 0, 900_000))
	e.settle(r, 0, 100_000)
	_, r = e.allow(req(p, 0, 900_000))
	e.settle(r, 0, 2_000_000) // over the budget
	e.refuse(req(p, 0, 0), LimitBudget, true, toMonthEnd)
}

func testRelease(e *env) {
	p := Policy{RPM: 2, TPM: 1000, BudgetMicros: 1}
	_, r := e.allow(req(p, 800, 800_000))
	e.release(r)
	d, _ := e.allow(req(p, 1000, 1_000_000)) // the tokens and cost came back
	if d.Headers.RemainingRequests != 0 {
		e.t.Fatalf("remaining requests %d, want 0: the released request still counts", d.Headers.RemainingRequests)
	}
	e.refuse(req(p, 0, 1), LimitBudget, true, toMonthEnd)
	p.BudgetMicros = 0
	e.refuse(req(p, 0, 0), LimitRPM, false, toMinuteEnd)
}

func testSettleOnce(e *env) {
	p := Policy{TPM: 1000}
	_, r := e.allow(req(p, 500, 0))
	e.settle(r, 100, 0)
	e.settle(r, 0, 0) // ignored
	e.release(r)      // ignored
	e.allow(req(p, 900, 0))
	e.refuse(req(p, 1, 0), LimitTPM, false, toMinuteEnd)
	e.settle(nil, 10, 10)
	e.release(nil)
}

func testSettleAfterRollover(e *env) {
	p := Policy{TPM: 1000, TPD: 2000}
	_, r := e.allow(req(p, 800, 0))
	e.clock.Advance(toMinuteEnd)
	e.settle(r, 100, 0) // the minute has ended: only the day is corrected
	d, _ := e.allow(req(p, 1000, 0))
	if d.Headers.RemainingTokens != 0 {
		e.t.Fatalf("remaining %d, want 0: the settlement changed the new minute", d.Headers.RemainingTokens)
	}
	e.clock.Advance(time.Minute)
	e.allow(req(p, 900, 0)) // day: 100 + 1000 + 900
	e.refuse(req(p, 1, 0), LimitTPD, true, toDayEnd-toMinuteEnd-time.Minute)
}

func testUnlimited(e *env) {
	d, r := e.allow(req(Policy{}, 1<<40, 1<<50))
	if d.Headers != (Headers{}) {
		e.t.Fatalf("headers %+v, want none", d.Headers)
	}
	e.settle(r, 5, 5)
	e.allow(req(Policy{}, 1<<40, 1<<50))
	if calls := e.loader.Calls(); len(calls) != 0 {
		e.t.Fatalf("spend loaded without a budget: %v", calls)
	}
}

func testSpendLoader(e *env) {
	e.loader.spend["c1"] = 600_000
	p := Policy{BudgetMicros: 1}
	e.allow(req(p, 0, 400_000))
	e.refuse(req(p, 0, 1), LimitBudget, true, toMonthEnd)
	e.allow(Request{KeyID: "k2", CustomerID: "c2", Policy: p, CostPicos: 1_000_000})
	want := []string{"c1@2025-05-01", "c2@2025-05-01"}
	if diff := cmp.Diff(want, e.loader.Calls()); diff != "" {
		e.t.Fatalf("loads (-want +got):\n%s", diff)
	}
	e.clock.Advance(toMonthEnd)
	e.loader.mu.Lock()
	e.loader.spend["c1"] = 999_999
	e.loader.mu.Unlock()
	e.allow(req(p, 0, 1))
	e.refuse(req(p, 0, 1), LimitBudget, true, 30*24*time.Hour)
	want = append(want, "c1@2025-06-01")
	if diff := cmp.Diff(want, e.loader.Calls()); diff != "" {
		e.t.Fatalf("loads (-want +got):\n%s", diff)
	}
}

func testSpendLoaderError(e *env) {
	boom := errors.New("database down")
	e.loader.err = boom
	p := Policy{RPM: 1, BudgetMicros: 1}
	_, _, err := e.l.Reserve(context.Background(), req(p, 0, 1))
	if !errors.Is(err, boom) {
		e.t.Fatalf("Reserve error %v, want it to wrap %v", err, boom)
	}
	e.loader.mu.Lock()
	e.loader.err = nil
	e.loader.mu.Unlock()
	e.allow(req(p, 0, 1)) // the failed attempt counted nothing
}

func testHeaders(e *env) {
	p := Policy{RPM: 10, TPM: 1000}
	d, _ := e.allow(req(p, 100, 0))
	got := map[string]string{}
	d.Headers.Apply(func(name, value string) {
		if name != http.CanonicalHeaderKey(name) {
			e.t.Errorf("header name %q is not canonical", name)
		}
		got[name] = value
	})
	want := map[string]string{
		"X-Ratelimit-Limit-Requests":     "10",
		"X-Ratelimit-Remaining-Requests": "9",
		"X-Ratelimit-Reset-Requests":     "30s",
		"X-Ratelimit-Limit-Tokens":       "1000",
		"X-Ratelimit-Remaining-Tokens":   "900",
		"X-Ratelimit-Reset-Tokens":       "30s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Fatalf("headers (-want +got):\n%s", diff)
	}
}

// parallel runs f(i) for i in [0, n) in n goroutines started together and
// returns the reservations of the admitted ones.
func parallel(t *testing.T, n int, f func(i int) (Decision, *Reservation, error)) []*Reservation {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		got   []*Reservation
		errs  atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			<-start
			d, r, err := f(i)
			if err != nil {
				errs.Add(1)
				t.Error(err)
				return
			}
			if d.Allowed {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if errs.Load() > 0 {
		t.FailNow()
	}
	return got
}

func testConcurrentRequests(e *env) {
	p := Policy{RPM: 10}
	got := parallel(e.t, 50, func(int) (Decision, *Reservation, error) {
		return e.l.Reserve(context.Background(), req(p, 0, 0))
	})
	if len(got) != 10 {
		e.t.Fatalf("%d of 50 admitted, want exactly 10", len(got))
	}
}

func testConcurrentTokens(e *env) {
	p := Policy{TPM: 1000}
	reserve := func(tokens int64) []*Reservation {
		return parallel(e.t, 50, func(int) (Decision, *Reservation, error) {
			return e.l.Reserve(context.Background(), req(p, tokens, 0))
		})
	}
	got := reserve(100)
	if len(got) != 10 {
		e.t.Fatalf("%d of 50 reservations of 100 admitted, want exactly 10", len(got))
	}
	for _, r := range got {
		e.settle(r, 50, 0)
	}
	if got := reserve(50); len(got) != 10 {
		e.t.Fatalf("after settling, %d of 50 reservations of 50 admitted, want exactly 10", len(got))
	}
}

func testConcurrentBudget(e *env) {
	p := Policy{BudgetMicros: 1}
	reserve := func(cost int64) []*Reservation {
		return parallel(e.t, 50, func(i int) (Decision, *Reservation, error) {
			// Five keys of one customer share the budget.
			r := Request{KeyID: fmt.Sprintf("k%d", i%5), CustomerID: "c1", Policy: p, CostPicos: cost}
			return e.l.Reserve(context.Background(), r)
		})
	}
	got := reserve(100_000)
	if len(got) != 10 {
		e.t.Fatalf("%d of 50 reservations of 0.1 µUSD admitted, want exactly 10", len(got))
	}
	for _, r := range got {
		e.settle(r, 0, 50_000)
	}
	if got := reserve(50_000); len(got) != 10 {
		e.t.Fatalf("after settling, %d of 50 reservations admitted, want exactly 10", len(got))
	}
	if calls := e.loader.Calls(); len(calls) != 1 {
		e.t.Fatalf("spend loaded %d times, want once: %v", len(calls), calls)
	}
}
