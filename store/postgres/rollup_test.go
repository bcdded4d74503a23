package postgres

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/store"
)

// TestRollupMatchesEvents checks the hourly rollup against the ledger it
// summarises, and a rollup-served export against the same export computed
// straight from usage_events in SQL.
func TestRollupMatchesEvents(t *testing.T) {
	s := openFresh(t)
	defer s.Close()
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	r := rand.New(rand.NewPCG(7, 7))
	events := make([]store.UsageEvent, n)
	for i := range events {
		events[i] = benchEvent(r, i, n)
	}
	// Overlapping batches: every event once, a third of them twice.
	for chunk := range slices.Chunk(events, 1500) {
		if err := s.InsertUsage(ctx, chunk); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertUsage(ctx, chunk[:len(chunk)/3]); err != nil {
			t.Fatal(err)
		}
	}

	// The rollup is exactly the ledger grouped by hour.
	var mismatches int
	err := s.pool.QueryRow(ctx, `WITH raw AS (
			SELECT date_trunc('hour', created_at, 'UTC') AS hour, customer_id, key_id, model, provider,
				count(*) AS requests, count(*) FILTER (WHERE cache_hit) AS cached_requests,
				count(*) FILTER (WHERE NOT priced) AS unpriced_requests,
				sum(prompt_tokens)::bigint AS prompt_tokens, sum(completion_tokens)::bigint AS completion_tokens,
				sum(cost_picos)::bigint AS cost_picos
			FROM usage_events GROUP BY 1, 2, 3, 4, 5),
		roll AS (SELECT hour, customer_id, key_id, model, provider, requests, cached_requests,
				unpriced_requests, prompt_tokens, completion_tokens, cost_picos FROM usage_hourly)
		SELECT (SELECT count(*) FROM (SELECT * FROM raw EXCEPT ALL SELECT * FROM roll) x) +
		       (SELECT count(*) FROM (SELECT * FROM roll EXCEPT ALL SELECT * FROM raw) y)`).Scan(&mismatches)
	if err != nil {
		t.Fatal(err)
	}
	if mismatches != 0 {
		t.Errorf("usage_hourly differs from usage_events in %d rows", mismatches)
	}

	// An export over a range that is not hour-aligned, from the rollup and
	// edge hours, equals the same export from the ledger alone.
	from, _ := benchMonth()
	from = from.Add(26*time.Hour + 17*time.Minute + 3*time.Second + 456789*time.Microsecond)
	to := from.Add(9*24*time.Hour + 5*time.Hour + 1234*time.Millisecond)
	q := store.UsageQuery{From: from, To: to, Granularity: store.GranularityDay,
		GroupBy: []string{store.GroupCustomer, store.GroupModel}}
	var got []store.UsageRow
	if err := s.QueryUsage(ctx, q, func(r store.UsageRow) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	want := rawDailyExport(t, s, from, to)
	if len(want) == 0 {
		t.Fatal("no rows in the raw export")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rollup export differs from the raw export (-raw +rollup):\n%s", d)
	}
}

// rawDailyExport is the export by day, customer and model computed from
// usage_events alone.
func rawDailyExport(t *testing.T, s *Store, from, to time.Time) []store.UsageRow {
	t.Helper()
	ctx := t.Context()
	rows, err := s.pool.Query(ctx, `SELECT date_trunc('day', created_at, 'UTC'), customer_id, model,
			count(*), count(*) FILTER (WHERE cache_hit), count(*) FILTER (WHERE NOT priced),
			sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cost_picos)::bigint
		FROM usage_events WHERE created_at >= $1 AND created_at < $2
		GROUP BY 1, 2, 3 ORDER BY 1, customer_id COLLATE "C", model COLLATE "C"`, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []store.UsageRow
	for rows.Next() {
		var w store.UsageRow
		if err := rows.Scan(&w.PeriodStart, &w.CustomerID, &w.Model, &w.Requests, &w.CachedRequests,
			&w.UnpricedRequests, &w.PromptTokens, &w.CompletionTokens, &w.CostPicos); err != nil {
			t.Fatal(err)
		}
		w.PeriodStart = w.PeriodStart.UTC()
		w.TotalTokens = w.PromptTokens + w.CompletionTokens
		want = append(want, w)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}
