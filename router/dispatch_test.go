package router

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// scriptAdapter answers from a script of errors: call n fails with
// errs[n] when that is non-nil and succeeds otherwise (and after the
// script ends).
type scriptAdapter struct {
	name string
	mu   sync.Mutex
	errs []error
	// chunks is how many chunks a stream yields before streamErr.
	chunks    int
	streamErr error
	calls     int
}

func (a *scriptAdapter) next() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.calls
	a.calls++
	if n < len(a.errs) {
		return a.errs[n]
	}
	return nil
}

func (a *scriptAdapter) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func (a *scriptAdapter) ChatCompletion(_ context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	if err := a.next(); err != nil {
		return nil, err
	}
	return &provider.ChatResponse{Body: []byte(`{}`), Model: req.Model}, nil
}

func (a *scriptAdapter) ChatCompletionStream(_ context.Context, _ *provider.ChatRequest) (provider.Stream, error) {
	if err := a.next(); err != nil {
		return nil, err
	}
	return &scriptStream{left: a.chunks, err: a.streamErr}, nil
}

type scriptStream struct {
	left int
	err  error
}

func (s *scriptStream) Next() (provider.Chunk, error) {
	if s.left == 0 {
		if s.err != nil {
			return provider.Chunk{}, s.err
		}
		return provider.Chunk{}, io.EOF
	}
	s.left--
	return provider.Chunk{Data: []byte(`{}`)}, nil
}
func (s *scriptStream) Usage() provider.Usage { return provider.Usage{} }
func (s *scriptStream) Model() string         { return "m" }
func (s *scriptStream) Close() error          { return nil }

func perr(kind provider.Kind, status int) error {
	return &provider.Error{Provider: "x", Kind: kind, Status: status, Message: kind.String()}
}

// fakeClock is a settable clock; its sleep advances it and records the
// waits.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// newScripted builds a table over the given adapters (named by their
// name) and models, with a fake clock.
func newScripted(t *testing.T, clock *fakeClock, opts Options, adapters []*scriptAdapter, models []ModelSpec) *Table {
	t.Helper()
	ps := make([]*Provider, len(adapters))
	for i, a := range adapters {
		ps[i] = &Provider{Name: a.name, Adapter: a, Type: "fake"}
	}
	opts.Now, opts.Sleep = clock.Now, clock.Sleep
	tb, err := NewWithOptions(ps, models, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func chat(t *testing.T, tb *Table, model string) (Result, error) {
	t.Helper()
	r, ok := tb.Resolve(model)
	if !ok {
		t.Fatalf("resolve %q", model)
	}
	_, res, err := tb.ChatCompletion(context.Background(), r, &provider.ChatRequest{Body: []byte(`{}`)})
	return res, err
}

func kindOf(err error) provider.Kind {
	if pe, ok := provider.AsError(err); ok {
		return pe.Kind
	}
	return -1
}

func TestRetrySequences(t *testing.T) {
	one := func(name string) []ModelSpec {
		return []ModelSpec{{Name: "m", Targets: []TargetSpec{{name, "u", 1}}}}
	}
	t.Run("500 then 200", func(t *testing.T) {
		a := &scriptAdapter{name: "a", errs: []error{perr(provider.KindServer, 500)}}
		clk := newClock()
		tb := newScripted(t, clk, Options{}, []*scriptAdapter{a}, one("a"))
		res, err := chat(t, tb, "m")
		if err != nil || res.Attempts != 2 || a.count() != 2 || res.Provider != "a" || res.Model != "u" {
			t.Fatalf("res %+v, err %v, calls %d", res, err, a.count())
		}
		if w := clk.Waits(); len(w) != 1 || w[0] < 50*time.Millisecond || w[0] > 100*time.Millisecond {
			t.Errorf("waits %v, want one jittered 50-100ms", w)
		}
	})
	t.Run("429 Retry-After honoured", func(t *testing.T) {
		rl := &provider.Error{Provider: "a", Kind: provider.KindRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond}
		a := &scriptAdapter{name: "a", errs: []error{rl}}
		clk := newClock()
		tb := newScripted(t, clk, Options{}, []*scriptAdapter{a}, one("a"))
		res, err := chat(t, tb, "m")
		if err != nil || res.Attempts != 2 {
			t.Fatalf("res %+v, err %v", res, err)
		}
		if w := clk.Waits(); len(w) != 1 || w[0] != 1500*time.Millisecond {
			t.Errorf("waits %v, want the Retry-After", w)
		}
	})
	t.Run("429 surviving everything stays a 429", func(t *testing.T) {
		rl := &provider.Error{Provider: "a", Kind: provider.KindRateLimited, Status: 429, RetryAfter: 10 * time.Second}
		a := &scriptAdapter{name: "a", errs: []error{rl, rl, rl, rl}}
		clk := newClock()
		tb := newScripted(t, clk, Options{}, []*scriptAdapter{a}, one("a"))
		res, err := chat(t, tb, "m")
		pe, ok := provider.AsError(err)
		if !ok || pe.Kind != provider.KindRateLimited || pe.RetryAfter != 10*time.Second {
			t.Fatalf("err %v", err)
		}
		// A Retry-After over the cap is not slept: no retry on the only target.
		if res.Attempts != 1 || len(clk.Waits()) != 0 {
			t.Errorf("attempts %d, waits %v", res.Attempts, clk.Waits())
		}
	})
	t.Run("400 not retried", func(t *testing.T) {
		a := &scriptAdapter{name: "a", errs: []error{perr(provider.KindInvalidRequest, 400)}}
		b := &scriptAdapter{name: "b"}
		tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a, b},
			[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}, Fallbacks: []string{"fb"}},
				{Name: "fb", Targets: []TargetSpec{{"b", "u", 1}}}})
		res, err := chat(t, tb, "m")
		if kindOf(err) != provider.KindInvalidRequest || res.Attempts != 1 || b.count() != 0 {
			t.Fatalf("res %+v, err %v, fallback calls %d", res, err, b.count())
		}
	})
	t.Run("auth error moves to the other target", func(t *testing.T) {
		a := &scriptAdapter{name: "a", errs: []error{perr(provider.KindAuth, 401)}}
		b := &scriptAdapter{name: "b"}
		tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a, b},
			[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1000}, {"b", "v", 1}}}})
		tb.intN = func(int) int { return 0 } // a first
		res, err := chat(t, tb, "m")
		if err != nil || res.Provider != "b" || res.Attempts != 2 || a.count() != 1 {
			t.Fatalf("res %+v, err %v, a calls %d", res, err, a.count())
		}
	})
	t.Run("retry prefers another target", func(t *testing.T) {
		a := &scriptAdapter{name: "a", errs: []error{perr(provider.KindServer, 503)}}
		b := &scriptAdapter{name: "b"}
		tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a, b},
			[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1000}, {"b", "v", 1}}}})
		tb.intN = func(int) int { return 0 }
		res, err := chat(t, tb, "m")
		if err != nil || res.Provider != "b" || res.Attempts != 2 || a.count() != 1 {
			t.Fatalf("res %+v, err %v", res, err)
		}
	})
	t.Run("retries bounded", func(t *testing.T) {
		s := perr(provider.KindServer, 500)
		a := &scriptAdapter{name: "a", errs: []error{s, s, s, s, s}}
		clk := newClock()
		tb := newScripted(t, clk, Options{}, []*scriptAdapter{a}, one("a"))
		res, err := chat(t, tb, "m")
		if kindOf(err) != provider.KindServer || res.Attempts != 3 || len(clk.Waits()) != 2 {
			t.Fatalf("res %+v, err %v, waits %v", res, err, clk.Waits())
		}
		if w := clk.Waits(); w[1] < 100*time.Millisecond || w[1] > 200*time.Millisecond {
			t.Errorf("second backoff %v, want 100-200ms", w[1])
		}
	})
}

func TestFallbacks(t *testing.T) {
	s := perr(provider.KindServer, 500)
	t.Run("all targets fail, fallback answers", func(t *testing.T) {
		a1 := &scriptAdapter{name: "a1", errs: []error{s, s, s}}
		a2 := &scriptAdapter{name: "a2", errs: []error{s, s, s}}
		b := &scriptAdapter{name: "b"}
		tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a1, a2, b}, []ModelSpec{
			{Name: "A", Targets: []TargetSpec{{"a1", "u", 1}, {"a2", "u", 1}}, Fallbacks: []string{"B"}},
			{Name: "B", Targets: []TargetSpec{{"b", "bu", 1}}},
		})
		res, err := chat(t, tb, "A")
		if err != nil || res.Provider != "b" || res.Model != "bu" || res.Attempts != 4 {
			t.Fatalf("res %+v, err %v", res, err)
		}
	})
	t.Run("cycle guarded", func(t *testing.T) {
		a := &scriptAdapter{name: "a", errs: []error{s, s, s, s, s, s, s, s}}
		b := &scriptAdapter{name: "b", errs: []error{s, s, s, s, s, s, s, s}}
		tb := newScripted(t, newClock(), Options{FailureThreshold: 100}, []*scriptAdapter{a, b}, []ModelSpec{
			{Name: "A", Targets: []TargetSpec{{"a", "u", 1}}, Fallbacks: []string{"B"}},
			{Name: "B", Targets: []TargetSpec{{"b", "u", 1}}, Fallbacks: []string{"A"}},
		})
		res, err := chat(t, tb, "A")
		if kindOf(err) != provider.KindServer || res.Attempts != 6 || a.count() != 3 || b.count() != 3 {
			t.Fatalf("res %+v, err %v, calls %d %d", res, err, a.count(), b.count())
		}
	})
}

func TestBreakerTransitions(t *testing.T) {
	s := perr(provider.KindServer, 500)
	errs := make([]error, 5)
	for i := range errs {
		errs[i] = s
	}
	a := &scriptAdapter{name: "a", errs: append(errs, s)} // 5 failures, then the failed probe, then successes
	clk := newClock()
	tb := newScripted(t, clk, Options{MaxRetries: -1}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	state := func() State { return tb.Health()[0].State }

	for i := range 5 {
		if st := state(); st != StateClosed {
			t.Fatalf("after %d failures: %s", i, st)
		}
		if _, err := chat(t, tb, "m"); err == nil {
			t.Fatal("no error")
		}
	}
	if st := state(); st != StateOpen {
		t.Fatalf("after 5 failures: %s", st)
	}
	// Open: a fast failure without calling the adapter.
	res, err := chat(t, tb, "m")
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindServer || res.Attempts != 0 || a.count() != 5 {
		t.Fatalf("open: res %+v, err %v, calls %d", res, err, a.count())
	}
	// Half-open after the cooldown; one probe at a time.
	clk.Advance(DefaultCooldown)
	if st := state(); st != StateHalfOpen {
		t.Fatalf("after cooldown: %s", st)
	}
	b := tb.models["m"].Targets[0].b
	if ok, probe := b.allow(clk.Now()); !ok || !probe {
		t.Fatal("first probe refused")
	}
	if ok, _ := b.allow(clk.Now()); ok {
		t.Fatal("second concurrent probe allowed")
	}
	b.record(clk.Now(), ignored, true, 0, nil) // release the manual probe
	// A failed probe re-opens, and the cooldown restarts.
	if _, err := chat(t, tb, "m"); err == nil || a.count() != 6 {
		t.Fatalf("probe: err %v, calls %d", err, a.count())
	}
	if st := state(); st != StateOpen {
		t.Fatalf("after failed probe: %s", st)
	}
	clk.Advance(DefaultCooldown - time.Second)
	if _, err := chat(t, tb, "m"); err == nil || a.count() != 6 {
		t.Fatal("open breaker let a request through")
	}
	clk.Advance(time.Second)
	// A successful probe closes it.
	if _, err := chat(t, tb, "m"); err != nil || a.count() != 7 {
		t.Fatalf("probe: err %v", err)
	}
	if st := state(); st != StateClosed {
		t.Fatalf("after successful probe: %s", st)
	}
}

func TestBreakerErrorRate(t *testing.T) {
	// Alternate failure and success: never 5 in a row, but 50% of 20.
	var errs []error
	for range 20 {
		errs = append(errs, perr(provider.KindServer, 500), nil)
	}
	a := &scriptAdapter{name: "a", errs: errs}
	clk := newClock()
	tb := newScripted(t, clk, Options{MaxRetries: -1}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	for i := range 19 {
		_, _ = chat(t, tb, "m")
		clk.Advance(time.Second)
		if st := tb.Health()[0].State; st != StateClosed {
			t.Fatalf("opened after %d requests", i+1)
		}
	}
	_, _ = chat(t, tb, "m") // the 20th, a success: 10 failures of 20, but successes do not open
	_, _ = chat(t, tb, "m") // a failure: 11 of 21 opens it
	h := tb.Health()[0]
	if h.State != StateOpen {
		t.Fatalf("state %s, health %+v", h.State, h)
	}

	// Old requests leave the window.
	b := &scriptAdapter{name: "b", errs: errs}
	clk2 := newClock()
	tb2 := newScripted(t, clk2, Options{MaxRetries: -1}, []*scriptAdapter{b},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"b", "u", 1}}}})
	for range 30 {
		_, _ = chat(t, tb2, "m")
		clk2.Advance(5 * time.Second) // at most 6 requests in a window
	}
	if st := tb2.Health()[0].State; st != StateClosed {
		t.Fatalf("sparse failures opened the breaker: %s", st)
	}
}

func TestClientErrorsDoNotTrip(t *testing.T) {
	var errs []error
	for range 10 {
		errs = append(errs, perr(provider.KindInvalidRequest, 400))
	}
	a := &scriptAdapter{name: "a", errs: errs}
	tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	for range 10 {
		_, _ = chat(t, tb, "m")
	}
	if h := tb.Health()[0]; h.State != StateClosed || h.Requests != 0 {
		t.Fatalf("health %+v", h)
	}
}

func TestAllOpenFailsFastThenFallback(t *testing.T) {
	s := perr(provider.KindServer, 500)
	a := &scriptAdapter{name: "a", errs: []error{s, s}}
	b := &scriptAdapter{name: "b"}
	tb := newScripted(t, newClock(), Options{FailureThreshold: 1, MaxRetries: -1}, []*scriptAdapter{a, b}, []ModelSpec{
		{Name: "A", Targets: []TargetSpec{{"a", "u", 1}}, Fallbacks: []string{"B"}},
		{Name: "B", Targets: []TargetSpec{{"b", "u", 1}}},
		{Name: "alone", Targets: []TargetSpec{{"a", "u", 1}}},
	})
	if res, err := chat(t, tb, "A"); err != nil || res.Provider != "b" || a.count() != 1 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	// a's breaker is open now: A goes straight to B without calling a.
	if res, err := chat(t, tb, "A"); err != nil || res.Attempts != 1 || a.count() != 1 {
		t.Fatalf("res %+v, err %v, a calls %d", res, err, a.count())
	}
	_, err := chat(t, tb, "alone")
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindServer || pe.Message != "all targets of alone are unavailable (circuit open)" {
		t.Fatalf("err %v", err)
	}
}

func TestNoRetryMidStream(t *testing.T) {
	boom := perr(provider.KindServer, 500)
	a := &scriptAdapter{name: "a", chunks: 1, streamErr: boom}
	tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	r, _ := tb.Resolve("m")
	s, res, err := tb.ChatCompletionStream(context.Background(), r, &provider.ChatRequest{Stream: true})
	if err != nil || res.Attempts != 1 {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if a.count() != 1 {
		t.Errorf("adapter called %d times", a.count())
	}

	// Opening the stream is retried.
	b := &scriptAdapter{name: "b", errs: []error{boom}}
	tb2 := newScripted(t, newClock(), Options{}, []*scriptAdapter{b},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"b", "u", 1}}}})
	r2, _ := tb2.Resolve("m")
	s2, res2, err := tb2.ChatCompletionStream(context.Background(), r2, &provider.ChatRequest{Stream: true})
	if err != nil || res2.Attempts != 2 {
		t.Fatalf("res %+v, err %v", res2, err)
	}
	_ = s2.Close()
}

func TestBackoffRespectsDeadline(t *testing.T) {
	s := perr(provider.KindServer, 500)
	a := &scriptAdapter{name: "a", errs: []error{s, s, s}}
	clk := newClock()
	tb := newScripted(t, clk, Options{BackoffBase: time.Second}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	r, _ := tb.Resolve("m")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(100*time.Millisecond))
	defer cancel()
	// The fake clock starts in 2026-01-01, long before the real deadline
	// would be reached by its waits; use the real clock for this one.
	tb.opts.Now = time.Now
	start := time.Now()
	_, res, err := tb.ChatCompletion(ctx, r, &provider.ChatRequest{})
	if kindOf(err) != provider.KindServer || res.Attempts != 1 || len(clk.Waits()) != 0 {
		t.Fatalf("res %+v, err %v, waits %v", res, err, clk.Waits())
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestClientCancelNotRetried(t *testing.T) {
	a := &scriptAdapter{name: "a", errs: []error{context.Canceled}}
	tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}}}})
	r, _ := tb.Resolve("m")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, res, err := tb.ChatCompletion(ctx, r, &provider.ChatRequest{})
	if !errors.Is(err, context.Canceled) || res.Attempts != 1 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	if h := tb.Health()[0]; h.Requests != 0 || h.State != StateClosed {
		t.Errorf("health %+v", h)
	}
}

func TestHealth(t *testing.T) {
	a := &scriptAdapter{name: "a", errs: []error{perr(provider.KindServer, 500)}}
	clk := newClock()
	tb := newScripted(t, clk, Options{MaxRetries: -1}, []*scriptAdapter{a}, []ModelSpec{
		{Name: "m1", Targets: []TargetSpec{{"a", "u", 1}}},
		{Name: "m2", Targets: []TargetSpec{{"a", "u", 1}}},
	})
	_, _ = chat(t, tb, "m1")
	clk.Advance(time.Second)
	_, _ = chat(t, tb, "a/other")
	hs := tb.Health()
	if len(hs) != 2 {
		t.Fatalf("health %+v", hs)
	}
	h := hs[1]
	if h.Provider != "a" || h.Model != "u" || h.Type != "fake" || len(h.PublicModels) != 2 ||
		h.Requests != 1 || h.Errors != 1 || h.ErrorRate != 1 || h.LastError != "server (status 500): server" ||
		h.LastErrorAt.IsZero() {
		t.Errorf("u: %+v", h)
	}
	if d := hs[0]; d.Model != "other" || d.PublicModels[0] != "a/other" || d.Requests != 1 || d.Errors != 0 {
		t.Errorf("other: %+v", d)
	}
}

func TestDispatchFollowsWeights(t *testing.T) {
	a := &scriptAdapter{name: "a"}
	b := &scriptAdapter{name: "b"}
	tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a, b},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 90}, {"b", "u", 10}}}})
	rng := rand.New(rand.NewPCG(3, 4))
	tb.intN = rng.IntN
	const n = 10000
	for range n {
		if _, err := chat(t, tb, "m"); err != nil {
			t.Fatal(err)
		}
	}
	// sd = sqrt(n*0.9*0.1) = 30; allow 4 sd.
	if d := math.Abs(float64(a.count()) - 0.9*n); d > 120 {
		t.Errorf("a answered %d of %d", a.count(), n)
	}
}

func TestDispatchConcurrent(t *testing.T) {
	var errs []error
	for i := range 400 {
		if i%3 == 0 {
			errs = append(errs, perr(provider.KindServer, 500))
		} else {
			errs = append(errs, nil)
		}
	}
	a := &scriptAdapter{name: "a", errs: errs}
	b := &scriptAdapter{name: "b", errs: errs}
	tb := newScripted(t, newClock(), Options{}, []*scriptAdapter{a, b},
		[]ModelSpec{{Name: "m", Targets: []TargetSpec{{"a", "u", 1}, {"b", "u", 1}}}})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				r, _ := tb.Resolve("m")
				_, _, _ = tb.ChatCompletion(context.Background(), r, &provider.ChatRequest{})
				_ = tb.Health()
			}
		})
	}
	wg.Wait()
}
