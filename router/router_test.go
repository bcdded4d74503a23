package router

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// fakeAdapter answers after delay; its stream yields chunks with gaps.
type fakeAdapter struct {
	delay time.Duration
	gaps  []time.Duration
}

func (f *fakeAdapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	select {
	case <-time.After(f.delay):
		return &provider.ChatResponse{Body: []byte(`{}`), Model: req.Model}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeAdapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &fakeStream{ctx: ctx, gaps: f.gaps}, nil
}

type fakeStream struct {
	ctx  context.Context
	gaps []time.Duration
}

func (s *fakeStream) Next() (provider.Chunk, error) {
	if len(s.gaps) == 0 {
		return provider.Chunk{}, io.EOF
	}
	d := s.gaps[0]
	s.gaps = s.gaps[1:]
	select {
	case <-time.After(d):
		return provider.Chunk{Data: []byte(`{}`)}, nil
	case <-s.ctx.Done():
		return provider.Chunk{}, s.ctx.Err()
	}
}
func (s *fakeStream) Usage() provider.Usage { return provider.Usage{} }
func (s *fakeStream) Model() string         { return "m" }
func (s *fakeStream) Close() error          { return nil }

type listing struct{ fakeAdapter }

func (listing) Models() []string { return []string{"echo", "shadowed"} }

func newTable(t *testing.T) *Table {
	t.Helper()
	tb, err := New([]*Provider{
		{Name: "a", Adapter: &fakeAdapter{}},
		{Name: "b", Adapter: &fakeAdapter{}},
		{Name: "mock", Adapter: &listing{}},
	}, []ModelSpec{
		{Name: "split", Targets: []TargetSpec{{"a", "a-model", 90}, {"b", "b-model", 10}}, Fallbacks: []string{"solo"}},
		{Name: "solo", Targets: []TargetSpec{{"b", "b-model", 1}}},
		{Name: "mock/shadowed", Targets: []TargetSpec{{"a", "x", 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestResolve(t *testing.T) {
	tb := newTable(t)
	tests := []struct {
		model    string
		ok       bool
		direct   bool
		provider string
		upstream string
	}{
		{"solo", true, false, "b", "b-model"},
		{"a/gpt-4o", true, true, "a", "gpt-4o"},
		{"a/org/model:tag", true, true, "a", "org/model:tag"},
		{"mock/shadowed", true, false, "a", "x"},
		{"zzz/gpt-4o", false, false, "", ""},
		{"a/", false, false, "", ""},
		{"nothing", false, false, "", ""},
		{"", false, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			r, ok := tb.Resolve(tc.model)
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if r.Direct != tc.direct || r.Targets[0].Provider.Name != tc.provider || r.Targets[0].Model != tc.upstream {
				t.Errorf("route %+v", r)
			}
		})
	}
	want := []string{"mock/shadowed", "solo", "split", "mock/echo"}
	got := tb.Models()
	if len(got) != len(want) {
		t.Fatalf("models %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("models %v, want %v", got, want)
		}
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	p := []*Provider{{Name: "a", Adapter: &fakeAdapter{}}}
	for name, specs := range map[string][]ModelSpec{
		"unknown provider": {{Name: "m", Targets: []TargetSpec{{"zz", "x", 1}}}},
		"zero weights":     {{Name: "m", Targets: []TargetSpec{{"a", "x", 0}}}},
		"unknown fallback": {{Name: "m", Targets: []TargetSpec{{"a", "x", 1}}, Fallbacks: []string{"nope"}}},
	} {
		if _, err := New(p, specs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(append(p, &Provider{Name: "a"}), nil); err == nil {
		t.Error("duplicate provider accepted")
	}
}

func TestPickFollowsWeights(t *testing.T) {
	tb := newTable(t)
	rng := rand.New(rand.NewPCG(1, 2))
	tb.intN = rng.IntN
	r, _ := tb.Resolve("split")
	const n = 10000
	counts := map[string]int{}
	for range n {
		counts[tb.Pick(r).Provider.Name]++
	}
	// 90/10 split: a binomial with sd = sqrt(n*0.9*0.1) = 30; allow 4 sd.
	if d := math.Abs(float64(counts["a"]) - 0.9*n); d > 120 {
		t.Errorf("a picked %d of %d times, want about %d", counts["a"], n, int(0.9*n))
	}
}

func TestChatCompletionTimeout(t *testing.T) {
	tb, err := New([]*Provider{{Name: "slow", Adapter: &fakeAdapter{delay: time.Second}, Timeout: 50 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tb.Resolve("slow/x")
	start := time.Now()
	_, res, err := tb.ChatCompletion(context.Background(), r, &provider.ChatRequest{})
	pe, ok := provider.AsError(err)
	if !ok || pe.Kind != provider.KindTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if time.Since(start) > 500*time.Millisecond || res.Provider != "slow" || res.Model != "x" {
		t.Errorf("took %v, result %+v", time.Since(start), res)
	}

	// A client that goes away is not an upstream timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = tb.ChatCompletion(ctx, r, &provider.ChatRequest{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled client: err = %v", err)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	// Gaps below the timeout pass however long the stream lasts overall;
	// one gap above it fails.
	tb, err := New([]*Provider{
		{Name: "ok", Adapter: &fakeAdapter{gaps: []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}}, Timeout: 100 * time.Millisecond},
		{Name: "stall", Adapter: &fakeAdapter{gaps: []time.Duration{10 * time.Millisecond, time.Second}}, Timeout: 100 * time.Millisecond},
		{Name: "late", Adapter: &fakeAdapter{delay: time.Second}, Timeout: 100 * time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	drain := func(name string) (int, error) {
		r, _ := tb.Resolve(name + "/m")
		s, _, err := tb.ChatCompletionStream(context.Background(), r, &provider.ChatRequest{})
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for {
			if _, err := s.Next(); err != nil {
				return n, err
			}
			n++
		}
	}
	if n, err := drain("ok"); err != io.EOF || n != 3 {
		t.Errorf("ok: %d chunks, %v", n, err)
	}
	if n, err := drain("stall"); n != 1 {
		t.Errorf("stall: %d chunks", n)
	} else if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindTimeout {
		t.Errorf("stall: err = %v", err)
	}
	if _, err := drain("late"); err == nil {
		t.Error("late: no error")
	} else if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindTimeout {
		t.Errorf("late: err = %v", err)
	}
}
