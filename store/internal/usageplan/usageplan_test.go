package usageplan

import (
	"math"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

func TestNewSplitsRange(t *testing.T) {
	at := func(h, m int, ns int) time.Time { return time.Date(2025, 3, 1, h, m, 0, ns, time.UTC) }
	for _, tc := range []struct {
		name             string
		from, to         time.Time
		rollFrom, rollTo time.Time
		empty            bool
	}{
		{"aligned", at(1, 0, 0), at(5, 0, 0), at(1, 0, 0), at(5, 0, 0), false},
		{"edges", at(1, 30, 0), at(5, 10, 0), at(2, 0, 0), at(5, 0, 0), false},
		{"inside one hour", at(1, 10, 0), at(1, 50, 0), at(1, 50, 0), at(1, 50, 0), false},
		{"across one boundary", at(1, 50, 0), at(2, 10, 0), at(2, 10, 0), at(2, 10, 0), false},
		{"exactly one hour", at(1, 0, 0), at(2, 0, 0), at(1, 0, 0), at(2, 0, 0), false},
		{"nanoseconds truncated", at(1, 0, 999), at(2, 0, 1999), at(1, 0, 0), at(2, 0, 0), false},
		{"empty", at(3, 0, 0), at(3, 0, 0), at(3, 0, 0), at(3, 0, 0), true},
		{"reversed", at(4, 0, 0), at(3, 0, 0), at(3, 0, 0), at(3, 0, 0), true},
	} {
		p, err := New(store.UsageQuery{From: tc.from, To: tc.to})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !p.RollupFrom.Equal(tc.rollFrom) || !p.RollupTo.Equal(tc.rollTo) || p.Empty != tc.empty {
			t.Errorf("%s: rollup [%v, %v) empty %v; want [%v, %v) empty %v", tc.name,
				p.RollupFrom, p.RollupTo, p.Empty, tc.rollFrom, tc.rollTo, tc.empty)
		}
		if !p.Empty && (p.From.After(p.RollupFrom) || p.RollupFrom.After(p.RollupTo) || p.RollupTo.After(p.To)) {
			t.Errorf("%s: bounds out of order: %+v", tc.name, p)
		}
	}
}

func TestNewValidates(t *testing.T) {
	p, err := New(store.UsageQuery{GroupBy: []string{"model", "key", "model"}, Granularity: "day"})
	if err != nil || !p.Model || !p.Key || p.Customer || p.Provider || p.Granularity != "day" {
		t.Errorf("New = %+v, %v", p, err)
	}
	if p.To.Year() != 9999 {
		t.Errorf("zero To became %v, want no upper bound", p.To)
	}
	for _, q := range []store.UsageQuery{{GroupBy: []string{"region"}}, {Granularity: "week"}} {
		if _, err := New(q); err == nil {
			t.Errorf("New(%+v) succeeded", q)
		}
	}
}

func TestAddExact(t *testing.T) {
	if v, err := AddExact(math.MaxInt64-1, 1); err != nil || v != math.MaxInt64 {
		t.Errorf("AddExact at the limit = %d, %v", v, err)
	}
	if _, err := AddExact(math.MaxInt64, 1); err == nil {
		t.Error("AddExact overflow succeeded")
	}
	if _, err := AddExact(math.MinInt64, -1); err == nil {
		t.Error("AddExact underflow succeeded")
	}
}
