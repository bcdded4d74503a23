package limits

import (
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		// OpenAI's own examples (openai.md §5.3, CONTRACT §3).
		{12 * time.Second, "12s"},
		{time.Minute, "1m0s"},
		{20 * time.Millisecond, "20ms"},
		{6 * time.Minute, "6m0s"},
		{time.Second, "1s"},
		{12 * time.Millisecond, "12ms"},
		// Rounding up: never earlier than the real reset.
		{11*time.Second + time.Nanosecond, "12s"},
		{59*time.Second + 500*time.Millisecond, "1m0s"},
		{19*time.Millisecond + 100*time.Microsecond, "20ms"},
		{999*time.Millisecond + time.Microsecond, "1s"},
		{time.Nanosecond, "1ms"},
		{13*time.Hour + 39*time.Minute + 30*time.Second, "13h39m30s"},
		{0, "0s"},
		{-time.Second, "0s"},
	}
	for _, tt := range tests {
		if got := FormatReset(tt.d); got != tt.want {
			t.Errorf("FormatReset(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWindows(t *testing.T) {
	tests := []struct {
		at                          time.Time
		minuteEnd, dayEnd, monthEnd time.Time
	}{
		{t0, time.Date(2025, 5, 14, 10, 21, 0, 0, time.UTC), time.Date(2025, 5, 15, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
		// The last instant of a year, and a time given in another zone.
		{time.Date(2025, 12, 31, 23, 59, 59, 999, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 2, 29, 23, 30, 0, 0, time.FixedZone("X", -2*3600)), time.Date(2024, 3, 1, 1, 31, 0, 0, time.UTC), time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
		// Window starts are inclusive.
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 1, 0, 0, time.UTC), time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		w := windowsAt(tt.at)
		if !w.minuteEnd().Equal(tt.minuteEnd) || !w.dayEnd().Equal(tt.dayEnd) || !w.monthEnd().Equal(tt.monthEnd) {
			t.Errorf("windowsAt(%v): ends %v %v %v, want %v %v %v", tt.at,
				w.minuteEnd().UTC(), w.dayEnd().UTC(), w.monthEnd(), tt.minuteEnd, tt.dayEnd, tt.monthEnd)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 0, time.Second: 1, 30 * time.Second: 30, 1500 * time.Millisecond: 2} {
		if got := (Decision{RetryAfter: d}).RetryAfterSeconds(); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestPolicyFromTier(t *testing.T) {
	got := PolicyFromTier(store.Tier{RPM: 1, RPD: 2, TPM: 3, TPD: 4, MonthlyBudgetMicros: 5})
	if want := (Policy{RPM: 1, RPD: 2, TPM: 3, TPD: 4, BudgetMicros: 5}); got != want {
		t.Fatalf("PolicyFromTier = %+v, want %+v", got, want)
	}
}

func TestBudgetPicosSaturates(t *testing.T) {
	if got := (Policy{BudgetMicros: 1 << 62}).budgetPicos(); got <= 0 {
		t.Fatalf("budgetPicos overflowed: %d", got)
	}
	if got := (Policy{BudgetMicros: 7}).budgetPicos(); got != 7_000_000 {
		t.Fatalf("budgetPicos = %d", got)
	}
}
