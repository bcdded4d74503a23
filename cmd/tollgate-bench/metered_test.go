package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLedgerResult(t *testing.T) {
	tests := []struct {
		name string
		l    ledgerResult
		ok   bool
	}{
		{"exact", ledgerResult{Events: 100, Status200: 100, Priced: 100, Expected: 100}, true},
		{"one missing", ledgerResult{Events: 99, Status200: 99, Priced: 99, Expected: 100}, false},
		{"one too many", ledgerResult{Events: 101, Status200: 101, Priced: 101, Expected: 100}, false},
		{"within the uncertain", ledgerResult{Events: 102, Status200: 101, Priced: 102, Expected: 100, Uncertain: 3}, true},
		{"beyond the uncertain", ledgerResult{Events: 104, Status200: 104, Priced: 104, Expected: 100, Uncertain: 3}, false},
		{"unpriced events", ledgerResult{Events: 100, Status200: 100, Priced: 90, Expected: 100}, false},
		{"failed statuses", ledgerResult{Events: 100, Status200: 98, Priced: 100, Expected: 100}, false},
		{"nothing at all", ledgerResult{}, true},
	}
	for _, tt := range tests {
		if got := tt.l.ok(); got != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, got, tt.ok)
		}
		if line := tt.l.line(); strings.HasSuffix(line, ": match") != tt.ok || strings.HasSuffix(line, "MISMATCH") == tt.ok {
			t.Errorf("%s: line %q", tt.name, line)
		}
	}
	l := ledgerResult{Events: 7, Status200: 7, Priced: 7, Expected: 5, Uncertain: 2, Waited: 1234 * time.Millisecond}
	want := "ledger: 7 usage events in PostgreSQL (7 with status 200, 7 priced) for 5 successful metered requests (+ up to 2 failed or cancelled), after 1.23s: match"
	if got := l.line(); got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
}

func TestCountLines(t *testing.T) {
	log := `{"level":"INFO","msg":"request","status":200}
{"level":"WARN","msg":"limiter unavailable; admitting without limits","error":"dial tcp: refused"}
{"level":"WARN","msg":"limiter settle failed","request_id":"r1"}
{"level":"INFO","msg":"request","path":"\"msg\":\"limiter "}
` + strings.Repeat("x", 100_000) + "\n"
	n, err := countLines(strings.NewReader(log), limiterFailureLog)
	if err != nil || n != 2 {
		t.Errorf("countLines = %d, %v; want 2", n, err)
	}
	if _, err := countLogLines("/nonexistent/metered.log", "x"); err == nil {
		t.Error("a missing log counted")
	}
}

func TestMeteredLines(t *testing.T) {
	m := &meteredInfo{Postgres: "postgres://postgres@h/test", Schema: "tollgate_bench_x", SchemaDropped: true,
		Redis: "redis://h:6379/15", Tier: benchTier(), RedisKeys: 3,
		Ledger: &ledgerResult{Events: 5, Status200: 5, Priced: 5, Expected: 5}}
	text := strings.Join(m.lines(), "\n")
	for _, want := range []string{"schema tollgate_bench_x, dropped afterwards", "tier benchtier (rpm 100000000", "$1000000 a month",
		"model bench-priced priced", "ledger: 5 usage events", "redis: 3 limit counters"} {
		if !strings.Contains(text, want) {
			t.Errorf("lines lack %q:\n%s", want, text)
		}
	}
	if _, err := json.Marshal(&report{Metered: m}); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
	m.SchemaDropped, m.RedisKeys, m.Ledger = false, -1, nil
	text = strings.Join(m.lines(), "\n")
	if !strings.Contains(text, "NOT dropped") || strings.Contains(text, "\nledger: ") || strings.Contains(text, "\nredis: ") {
		t.Errorf("lines:\n%s", text)
	}
}

func TestBenchTierIsLimitedEverywhere(t *testing.T) {
	tier := benchTier()
	if tier.RPM <= 0 || tier.RPD <= 0 || tier.TPM <= 0 || tier.TPD <= 0 || tier.MonthlyBudgetUSD == "" || tier.MonthlyBudgetUSD == "0" {
		t.Errorf("every window must be limited: %+v", tier)
	}
	data, _ := json.Marshal(tier)
	if !strings.Contains(string(data), `"monthly_budget_usd":1000000`) {
		t.Errorf("tier JSON %s", data)
	}
}

// TestAdminClient runs the admin calls against a stand-in of the admin API.
func TestAdminClient(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.URL.Path+" "+string(body))
		if r.Header.Get("Authorization") != "Bearer adm" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		switch r.URL.Path {
		case "/admin/customers":
			_, _ = io.WriteString(w, `{"id":"cus_1"}`)
		case "/admin/keys":
			_, _ = io.WriteString(w, `{"id":"key_1","key":"tg-secret"}`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	a := adminClient{base: srv.URL, key: "adm"}
	ctx := context.Background()
	if err := a.createTier(ctx, benchTier()); err != nil {
		t.Fatal(err)
	}
	key, cus, err := a.provisionKey(ctx, "bench", "enterprise")
	if err != nil || key != "tg-secret" || cus != "cus_1" {
		t.Fatalf("provisionKey = %q, %q, %v", key, cus, err)
	}
	want := []string{`/admin/customers {"name":"bench","tier":"enterprise"}`, `/admin/keys {"customer_id":"cus_1","name":"bench"}`}
	if len(got) != 3 || !strings.HasPrefix(got[0], `/admin/tiers {"name":"benchtier"`) || got[1] != want[0] || got[2] != want[1] {
		t.Errorf("requests %q", got)
	}
	a.key = "wrong"
	if _, _, err := a.provisionKey(ctx, "bench", "enterprise"); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("refused admin key: %v", err)
	}
}

func TestSkipMetered(t *testing.T) {
	b := &bench{cfg: &config{}, log: io.Discard}
	b.skipMetered(unavailablef("Redis at redis://h:1/15 is not reachable"))
	if len(b.rep.Problems) != 0 || len(b.rep.Notes) != 1 || !strings.HasPrefix(b.rep.Notes[0], "metered scenario skipped: Redis at") {
		t.Errorf("implicit: notes %q, problems %q", b.rep.Notes, b.rep.Problems)
	}
	b.skipMetered(errors.New("gateway did not become ready"))
	if len(b.rep.Problems) != 1 {
		t.Errorf("a gateway failure must be a problem: %q", b.rep.Problems)
	}
	b = &bench{cfg: &config{meteredRequired: true}, log: io.Discard}
	b.skipMetered(unavailablef("psql not found"))
	if len(b.rep.Problems) != 1 || len(b.rep.Notes) != 0 {
		t.Errorf("named: notes %q, problems %q", b.rep.Notes, b.rep.Problems)
	}
}

func TestMeteredRounds(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Second: 2, 10 * time.Second: 4, 30 * time.Second: 12} {
		if got := meteredRounds(d); got != want {
			t.Errorf("meteredRounds(%v) = %d, want %d", d, got, want)
		}
	}
}
