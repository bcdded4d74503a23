package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-gw/tollgate/store"
)

// benchMonth is the month the benchmark's events fall in (31 days).
func benchMonth() (from, to time.Time) {
	return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
}

// Shape of the generated usage: customers × keys × models × providers.
const (
	benchCustomers = 100
	benchKeys      = 300 // benchKeys/benchCustomers keys per customer
	benchModels    = 5
	benchProviders = 3
)

// benchEvent returns event i of n, spread evenly over the month in time
// order with random dimensions and counts drawn from r.
func benchEvent(r *rand.Rand, i, n int) store.UsageEvent {
	from, to := benchMonth()
	step := to.Sub(from) / time.Duration(n)
	key := r.IntN(benchKeys)
	e := store.UsageEvent{
		RequestID:  fmt.Sprintf("bench-%09d", i),
		KeyID:      fmt.Sprintf("key_%03d", key),
		CustomerID: fmt.Sprintf("cus_%03d", key%benchCustomers),
		Model:      fmt.Sprintf("model-%d", r.IntN(benchModels)),
		Provider:   fmt.Sprintf("provider-%d", r.IntN(benchProviders)),
		Endpoint:   "chat.completions", UpstreamModel: "upstream",
		PromptTokens: r.Int64N(4000), CompletionTokens: r.Int64N(1000),
		CostPicos: r.Int64N(50_000_000_000), Priced: r.IntN(50) != 0, CacheHit: r.IntN(20) == 0,
		Status: 200, LatencyMS: r.Int64N(5000),
		CreatedAt: from.Add(time.Duration(i)*step + time.Duration(r.Int64N(int64(step)))),
	}
	if e.CacheHit {
		e.CostPicos = 0
	}
	return e
}

// loadEvents writes events [0, n) through InsertUsage in batches, with
// workers goroutines each taking a contiguous share of the month.
func loadEvents(ctx context.Context, s *Store, n, workers, batch int) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	per := (n + workers - 1) / workers
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			buf := make([]store.UsageEvent, 0, batch)
			for i := w * per; i < min(n, (w+1)*per); i++ {
				buf = append(buf, benchEvent(r, i, n))
				if len(buf) == batch || i == min(n, (w+1)*per)-1 {
					if err := s.InsertUsage(ctx, buf); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					buf = buf[:0]
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// benchEvents is the benchmark's volume.
const benchEvents = 10_000_000

// BenchmarkExportMonth10M loads 10 million usage events (through
// InsertUsage, so the rollup is built as in production) over one month
// across 100 customers, 300 keys, 5 models and 3 providers, then times a
// month's export grouped by customer and model, with no time grouping and
// by day, consuming every row. It runs only with TOLLGATE_BENCH_10M=1 (the
// load takes minutes). With TOLLGATE_BENCH_10M_SCHEMA=name the data goes
// to that schema, which is kept, and a later run reuses it.
func BenchmarkExportMonth10M(b *testing.B) {
	if os.Getenv("TOLLGATE_BENCH_10M") != "1" {
		b.Skip("set TOLLGATE_BENCH_10M=1 to load 10M events into PostgreSQL and time a month's export")
	}
	s := openBench(b)
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var have int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM usage_events`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have != benchEvents {
		if have != 0 {
			b.Fatalf("schema holds %d events, want 0 or %d", have, benchEvents)
		}
		start := time.Now()
		if err := loadEvents(ctx, s, benchEvents, 2, 10_000); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE usage_hourly`); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d events through InsertUsage in %v (%.0f events/s)", benchEvents, load.Round(time.Second),
			benchEvents/load.Seconds())
	}
	var rollup int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM usage_hourly`).Scan(&rollup); err != nil {
		b.Fatal(err)
	}
	b.Logf("usage_hourly holds %d rows", rollup)
	from, to := benchMonth()
	for _, gran := range []string{"", store.GranularityDay} {
		b.Run("customer,model/granularity="+gran, func(b *testing.B) {
			q := store.UsageQuery{From: from, To: to, Granularity: gran,
				GroupBy: []string{store.GroupCustomer, store.GroupModel}}
			var rows, requests int64
			for b.Loop() {
				rows, requests = 0, 0
				err := s.QueryUsage(ctx, q, func(r store.UsageRow) error {
					rows++
					requests += r.Requests
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if requests != benchEvents {
				b.Fatalf("export counted %d requests, want %d", requests, benchEvents)
			}
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

// openBench opens the benchmark's store: on a fresh schema dropped at the
// end, or on the kept schema TOLLGATE_BENCH_10M_SCHEMA.
func openBench(b *testing.B) *Store {
	keep := os.Getenv("TOLLGATE_BENCH_10M_SCHEMA")
	if keep == "" {
		return openFresh(b)
	}
	base := testURL(b)
	conn, err := pgx.Connect(b.Context(), base)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(b.Context())
	if _, err := conn.Exec(b.Context(), `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{keep}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	s, err := Open(b.Context(), withSearchPath(b, base, keep))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
