package limits

import (
	"context"
	"testing"
	"time"
)

func TestMemory(t *testing.T) {
	runSuite(t, func(t *testing.T, o Options) Limiter { return NewMemory(o) })
}

func TestMemoryZeroValue(t *testing.T) {
	var m Memory
	p := Policy{RPM: 1, BudgetMicros: 1}
	d, r, err := m.Reserve(context.Background(), Request{KeyID: "k", CustomerID: "c", Policy: p, CostPicos: 10})
	if err != nil || !d.Allowed {
		t.Fatalf("Reserve = %+v, %v", d, err)
	}
	if err := m.Settle(context.Background(), r, 1, 1); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := m.Reserve(context.Background(), Request{KeyID: "k", Policy: p}); d.Allowed {
		t.Fatal("second request of an RPM=1 key allowed")
	}
}

// TestMemorySweep checks that idle counters are deleted once their windows
// have ended, and only then.
func TestMemorySweep(t *testing.T) {
	clock := &fakeClock{t: t0}
	m := NewMemory(Options{Now: clock.Now})
	reserve := func(key string, p Policy) {
		t.Helper()
		if _, _, err := m.Reserve(context.Background(), Request{KeyID: key, CustomerID: "c-" + key, Policy: p}); err != nil {
			t.Fatal(err)
		}
	}
	reserve("minute", Policy{RPM: 5})
	reserve("day", Policy{RPD: 5})
	reserve("month", Policy{BudgetMicros: 5})
	if n := m.Sweep(); n != 0 {
		t.Fatalf("swept %d live entries", n)
	}
	clock.Advance(toMinuteEnd)
	if n := m.Sweep(); n != 1 {
		t.Fatalf("after the minute: swept %d, want 1 (the minute key)", n)
	}
	clock.Advance(toDayEnd)
	if n := m.Sweep(); n != 1 {
		t.Fatalf("after the day: swept %d, want 1 (the day key)", n)
	}
	clock.Advance(toMonthEnd)
	if n := m.Sweep(); n != 1 {
		t.Fatalf("after the month: swept %d, want 1 (the customer)", n)
	}
	for i := range m.shards {
		if len(m.shards[i].keys)+len(m.shards[i].customers) != 0 {
			t.Fatalf("shard %d not empty", i)
		}
	}
}

func TestMemoryRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewMemory(Options{}).Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestMemorySeedWaitsForOneLoad checks that concurrent first requests of a
// customer load the month's spend once.
func TestMemorySeedWaitsForOneLoad(t *testing.T) {
	loader := &spendLoader{spend: map[string]int64{"c1": 500_000}, delay: 20 * time.Millisecond}
	m := NewMemory(Options{Now: (&fakeClock{t: t0}).Now, SpendLoader: loader.Load})
	p := Policy{BudgetMicros: 1}
	got := parallel(t, 50, func(int) (Decision, *Reservation, error) {
		return m.Reserve(context.Background(), req(p, 0, 100_000))
	})
	if len(got) != 5 {
		t.Fatalf("%d admitted, want 5 (half the budget was spent before)", len(got))
	}
	if calls := loader.Calls(); len(calls) != 1 {
		t.Fatalf("spend loaded %d times, want once", len(calls))
	}
}

// TestMemoryWindowsMoveForward checks that a request whose clock reading
// is a moment older than the current window counts in the current window
// instead of resetting it.
func TestMemoryWindowsMoveForward(t *testing.T) {
	clock := &fakeClock{t: t0}
	m := NewMemory(Options{Now: clock.Now})
	p := Policy{RPM: 2}
	clock.Advance(toMinuteEnd) // the next minute
	if d, _, _ := m.Reserve(context.Background(), req(p, 0, 0)); !d.Allowed {
		t.Fatal("refused")
	}
	clock.Advance(-time.Millisecond) // a late reading of the previous minute
	if d, _, _ := m.Reserve(context.Background(), req(p, 0, 0)); !d.Allowed || d.Headers.RemainingRequests != 0 {
		t.Fatalf("late request: %+v, want allowed in the current window with 0 left", d)
	}
	if d, _, _ := m.Reserve(context.Background(), req(p, 0, 0)); d.Allowed {
		t.Fatal("third request allowed: the late one reset the window")
	}
}
