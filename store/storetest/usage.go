package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// usageBase is where the generated events start: late January, so that
// the span crosses a day and a month boundary.
func usageBase() time.Time { return time.Date(2025, 1, 30, 20, 0, 0, 0, time.UTC) }

// usageSpan is how long the generated events last.
const usageSpan = 76 * time.Hour

// world is what generated events refer to.
type world struct {
	customers []string            // customer IDs; the last is not in the store
	names     map[string]string   // customer ID → name, for those in the store
	keys      map[string][]string // customer ID → key IDs
	models    []string
	providers []string
}

// newWorld creates three named customers (and one unknown to the store).
func newWorld(t *testing.T, s store.Store) *world {
	w := &world{names: map[string]string{}, keys: map[string][]string{},
		models: []string{"chat-default", "gpt-4o", "mock/echo"}, providers: []string{"openai", "anthropic"}}
	for i, name := range []string{"Acme", "Beta", "Ω Corp"} {
		c := newCustomer(t, s, name, "free")
		w.customers = append(w.customers, c.ID)
		w.names[c.ID] = name
		for j := range i + 1 {
			w.keys[c.ID] = append(w.keys[c.ID], fmt.Sprintf("key_%d_%d", i, j))
		}
	}
	w.customers = append(w.customers, "cus_ghost")
	w.keys["cus_ghost"] = []string{"key_ghost"}
	return w
}

// events generates n events over [usageBase(), usageBase()+usageSpan), some
// exactly on hour boundaries, with nanosecond parts the store truncates.
func (w *world) events(r *rand.Rand, prefix string, n int) []store.UsageEvent {
	out := make([]store.UsageEvent, n)
	for i := range out {
		cust := w.customers[r.IntN(len(w.customers))]
		at := usageBase().Add(time.Duration(r.Int64N(int64(usageSpan))))
		if r.IntN(20) == 0 {
			at = at.Truncate(time.Hour)
		}
		e := store.UsageEvent{
			RequestID: fmt.Sprintf("%s-%06d", prefix, i), CustomerID: cust,
			KeyID:    w.keys[cust][r.IntN(len(w.keys[cust]))],
			Model:    w.models[r.IntN(len(w.models))],
			Provider: w.providers[r.IntN(len(w.providers))], UpstreamModel: "up", Endpoint: "chat.completions",
			PromptTokens: r.Int64N(5000), CompletionTokens: r.Int64N(2000),
			CostPicos: r.Int64N(1_000_000_000), Priced: r.IntN(10) != 0, CacheHit: r.IntN(10) == 0,
			Stream: r.IntN(2) == 0, Status: 200, LatencyMS: r.Int64N(3000), CreatedAt: at,
		}
		e.CachedTokens = e.PromptTokens / 4
		if r.IntN(3) == 0 {
			e.ClientRequestID = fmt.Sprintf("trace-%d", r.IntN(10)) // repeats
		}
		if e.CacheHit {
			e.CostPicos = 0
		}
		out[i] = e
	}
	return out
}

// rowKey identifies a group in the reference aggregation.
type rowKey struct {
	period                         time.Time
	customer, key, model, provider string
}

// aggregate is the reference: QueryUsage computed in Go from the raw
// events (the first event per RequestID counts).
func aggregate(events []store.UsageEvent, names map[string]string, q store.UsageQuery) []store.UsageRow {
	from, to := micro(q.From), micro(q.To)
	groups := map[rowKey]*store.UsageRow{}
	seen := map[string]bool{}
	for _, e := range events {
		at := micro(e.CreatedAt)
		if seen[e.RequestID] || at.Before(from) || (!q.To.IsZero() && !at.Before(to)) {
			continue
		}
		seen[e.RequestID] = true
		k := rowKey{period: period(at, q.Granularity)}
		for _, g := range q.GroupBy {
			switch g {
			case store.GroupCustomer:
				k.customer = e.CustomerID
			case store.GroupKey:
				k.key = e.KeyID
			case store.GroupModel:
				k.model = e.Model
			case store.GroupProvider:
				k.provider = e.Provider
			}
		}
		r := groups[k]
		if r == nil {
			r = &store.UsageRow{PeriodStart: k.period, CustomerID: k.customer, CustomerName: names[k.customer],
				KeyID: k.key, Model: k.model, Provider: k.provider}
			groups[k] = r
		}
		r.Requests++
		r.CachedRequests += b2i(e.CacheHit)
		r.UnpricedRequests += b2i(!e.Priced)
		r.PromptTokens += e.PromptTokens
		r.CompletionTokens += e.CompletionTokens
		r.TotalTokens += e.PromptTokens + e.CompletionTokens
		r.CostPicos += e.CostPicos
	}
	out := make([]store.UsageRow, 0, len(groups))
	for _, r := range groups {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b store.UsageRow) int {
		return cmp.Or(a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.CustomerID, b.CustomerID),
			cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Provider, b.Provider))
	})
	return out
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// period is the start of at's period at granularity g (zero for none).
func period(at time.Time, g string) time.Time {
	switch g {
	case store.GranularityHour:
		return at.Truncate(time.Hour)
	case store.GranularityDay:
		return time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	case store.GranularityMonth:
		return time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// query collects QueryUsage's rows.
func query(t *testing.T, s store.Store, q store.UsageQuery) ([]store.UsageRow, error) {
	var rows []store.UsageRow
	err := s.QueryUsage(ctx(t), q, func(r store.UsageRow) error {
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

// checkQuery fails the test unless QueryUsage(q) equals the reference.
func checkQuery(t *testing.T, s store.Store, events []store.UsageEvent, names map[string]string, q store.UsageQuery) {
	t.Helper()
	got, err := query(t, s, q)
	if err != nil {
		t.Fatalf("QueryUsage(%+v): %v", q, err)
	}
	want := aggregate(events, names, q)
	if slices.EqualFunc(want, got, rowsEqual) {
		return
	}
	if d := diff(want, got); d != "" {
		t.Errorf("QueryUsage(from %v, to %v, group %v, granularity %q) (-want +got):\n%s",
			q.From, q.To, q.GroupBy, q.Granularity, d)
	}
}

// rowsEqual compares two rows (cheaply: cmp.Diff explains a mismatch).
func rowsEqual(a, b store.UsageRow) bool {
	at, bt := a.PeriodStart, b.PeriodStart
	a.PeriodStart, b.PeriodStart = time.Time{}, time.Time{}
	return at.Equal(bt) && a == b
}

// groupings returns every subset of the grouping fields.
func groupings() [][]string {
	fields := []string{store.GroupCustomer, store.GroupKey, store.GroupModel, store.GroupProvider}
	var out [][]string
	for mask := range 1 << len(fields) {
		var g []string
		for i, f := range fields {
			if mask&(1<<i) != 0 {
				g = append(g, f)
			}
		}
		out = append(out, g)
	}
	return out
}

// insertInBatches inserts events in random batches, replaying some.
func insertInBatches(t *testing.T, s store.Store, r *rand.Rand, events []store.UsageEvent) {
	for i := 0; i < len(events); {
		n := 1 + r.IntN(400)
		end := min(i+n, len(events))
		batch := slices.Clone(events[i:end])
		if i > 0 && r.IntN(3) == 0 { // replay part of what is already stored
			lo := r.IntN(i)
			batch = append(batch, events[lo:min(lo+50, i)]...)
		}
		must(t, "InsertUsage", s.InsertUsage(ctx(t), batch))
		i = end
	}
}

func testUsageQueryMatchesEvents(t *testing.T, s store.Store) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 42))
	w := newWorld(t, s)
	events := w.events(r, "req", 600)
	insertInBatches(t, s, r, events)

	base, h := usageBase(), time.Hour
	// Two event times, in order: From inclusive, To exclusive.
	e0, e1 := events[0].CreatedAt, events[1].CreatedAt
	if e1.Before(e0) {
		e0, e1 = e1, e0
	}
	ranges := [][2]time.Time{
		{}, // everything: zero From and To
		{base, base.Add(usageSpan)},
		{base.Add(90*time.Minute + 123456*time.Microsecond), base.Add(50*h + 17*time.Second + 1)},
		{base.Add(5*h + 10*time.Minute), base.Add(5*h + 40*time.Minute)}, // inside one hour
		{base.Add(5*h + 59*time.Minute), base.Add(6*h + time.Minute)},    // across one boundary
		{base.Add(27 * h), base.Add(27 * h)},                             // empty
		{base.Add(30 * h), base.Add(20 * h)},                             // reversed: empty
		{e0, e1},
		{base.Add(61*h + 1), time.Time{}}, // no upper bound
	}
	for range 3 {
		a := base.Add(time.Duration(r.Int64N(int64(usageSpan))))
		b := a.Add(time.Duration(r.Int64N(int64(30 * h))))
		ranges = append(ranges, [2]time.Time{a, b})
	}
	// Every grouping at every granularity for the first three ranges (all,
	// aligned, not aligned); for the others every grouping once, at
	// rotating granularities, to keep the race-detector run short.
	grans := []string{"", store.GranularityHour, store.GranularityDay, store.GranularityMonth}
	for i, rg := range ranges {
		t.Run(fmt.Sprintf("range%d", i), func(t *testing.T) {
			t.Parallel()
			for j, g := range groupings() {
				for k, gran := range grans {
					if i < 3 || (i+j)%len(grans) == k {
						checkQuery(t, s, events, w.names, store.UsageQuery{From: rg[0], To: rg[1], GroupBy: g, Granularity: gran})
					}
				}
			}
		})
	}
}

func testUsageIdempotent(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWorld(t, s)
	events := w.events(r, "idem", 300)
	a, b := events[:150], events[100:]
	must(t, "InsertUsage a", s.InsertUsage(ctx(t), a))
	must(t, "InsertUsage a again", s.InsertUsage(ctx(t), a))
	must(t, "InsertUsage b (overlaps a)", s.InsertUsage(ctx(t), b))
	withDup := append(slices.Clone(events[:10]), events[:10]...)
	must(t, "InsertUsage with duplicates inside", s.InsertUsage(ctx(t), withDup))
	must(t, "InsertUsage empty", s.InsertUsage(ctx(t), nil))
	// A replay with different content still counts once, as first written.
	changed := slices.Clone(events[:5])
	for i := range changed {
		changed[i].PromptTokens += 1000
		changed[i].CreatedAt = changed[i].CreatedAt.Add(time.Hour)
	}
	must(t, "InsertUsage changed replay", s.InsertUsage(ctx(t), changed))

	q := store.UsageQuery{GroupBy: []string{store.GroupCustomer, store.GroupModel}, Granularity: store.GranularityHour}
	checkQuery(t, s, events, w.names, q)
	rows, err := query(t, s, store.UsageQuery{})
	must(t, "QueryUsage totals", err)
	if len(rows) != 1 || rows[0].Requests != int64(len(events)) {
		t.Errorf("total requests = %+v, want one row of %d", rows, len(events))
	}
}

func testUsageQueryValidation(t *testing.T, s store.Store) {
	for _, q := range []store.UsageQuery{
		{GroupBy: []string{"region"}},
		{Granularity: "week"},
	} {
		if _, err := query(t, s, q); err == nil {
			t.Errorf("QueryUsage(%+v) succeeded, want an error", q)
		}
	}
	rows, err := query(t, s, store.UsageQuery{})
	must(t, "QueryUsage on no events", err)
	if len(rows) != 0 {
		t.Errorf("QueryUsage on no events = %+v, want no rows", rows)
	}
	r := rand.New(rand.NewPCG(3, 4))
	w := newWorld(t, s)
	events := w.events(r, "val", 50)
	must(t, "InsertUsage", s.InsertUsage(ctx(t), events))
	// A field named twice groups once.
	checkQuery(t, s, events, w.names, store.UsageQuery{GroupBy: []string{store.GroupModel, store.GroupModel}})
}

func testUsageQueryStops(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(5, 6))
	w := newWorld(t, s)
	must(t, "InsertUsage", s.InsertUsage(ctx(t), w.events(r, "stop", 200)))
	stop := errors.New("enough")
	calls := 0
	err := s.QueryUsage(ctx(t), store.UsageQuery{Granularity: store.GranularityHour}, func(store.UsageRow) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("QueryUsage with a failing fn: err %v after %d calls, want %v after 1", err, calls, stop)
	}
	// The store still works afterwards (the connection was released).
	if _, err := query(t, s, store.UsageQuery{}); err != nil {
		t.Errorf("QueryUsage after a stopped query: %v", err)
	}
}

func testUsageCostExact(t *testing.T, s store.Store) {
	w := newWorld(t, s)
	cust := w.customers[0]
	// Costs that a float64 sum would round: 1,000 events of ~9e15 pico-USD
	// (~$9,000 each), totalling ~9e18, just under the int64 limit.
	var events []store.UsageEvent
	var want int64
	for i := range 1000 {
		cost := int64(9_000_000_000_000_000) + int64(i*7919+1)
		want += cost
		events = append(events, store.UsageEvent{RequestID: fmt.Sprintf("cost-%d", i), CustomerID: cust,
			KeyID: w.keys[cust][0], Model: "gpt-4o", Provider: "openai", CostPicos: cost, Priced: true,
			CreatedAt: usageBase().Add(time.Duration(i) * 3 * time.Minute)})
	}
	must(t, "InsertUsage", s.InsertUsage(ctx(t), events))
	rows, err := query(t, s, store.UsageQuery{GroupBy: []string{store.GroupCustomer}})
	must(t, "QueryUsage", err)
	if len(rows) != 1 || rows[0].CostPicos != want {
		t.Errorf("QueryUsage cost = %+v, want %d", rows, want)
	}
	checkQuery(t, s, events, w.names, store.UsageQuery{GroupBy: []string{store.GroupCustomer}, Granularity: store.GranularityDay})
	spend, err := s.SpendSince(ctx(t), cust, time.Time{})
	must(t, "SpendSince", err)
	if spend != want {
		t.Errorf("SpendSince = %d, want %d", spend, want)
	}
}

func testUsageOverflowFails(t *testing.T, s store.Store) {
	half := int64(math.MaxInt64/2 + 1)
	ev := func(id string, at time.Time) store.UsageEvent {
		return store.UsageEvent{RequestID: id, CustomerID: "cus_big", KeyID: "k", Model: "m", Provider: "p",
			CostPicos: half, Priced: true, CreatedAt: at}
	}
	// Different hours: each rollup row holds half; only the sums overflow.
	must(t, "InsertUsage", s.InsertUsage(ctx(t), []store.UsageEvent{
		ev("a", usageBase()), ev("b", usageBase().Add(2*time.Hour))}))
	if rows, err := query(t, s, store.UsageQuery{}); err == nil {
		t.Errorf("QueryUsage of an overflowing sum = %+v, want an error", rows)
	}
	if spend, err := s.SpendSince(ctx(t), "cus_big", time.Time{}); err == nil {
		t.Errorf("SpendSince of an overflowing sum = %d, want an error", spend)
	}
	// Per hour the sums fit.
	rows, err := query(t, s, store.UsageQuery{Granularity: store.GranularityHour})
	must(t, "QueryUsage by hour", err)
	if len(rows) != 2 || rows[0].CostPicos != half || rows[1].CostPicos != half {
		t.Errorf("QueryUsage by hour = %+v", rows)
	}
}

func testUsageConcurrentInserts(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(7, 8))
	w := newWorld(t, s)
	events := w.events(r, "conc", 2000)
	const workers = 8
	var wg sync.WaitGroup
	c := ctx(t)
	for g := range workers {
		wg.Go(func() {
			// Each worker writes its own stripe and replays a neighbour's.
			rr := rand.New(rand.NewPCG(uint64(g), 9))
			var mine []store.UsageEvent
			for i, e := range events {
				if i%workers == g || i%workers == (g+1)%workers {
					mine = append(mine, e)
				}
			}
			rr.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for chunk := range slices.Chunk(mine, 1+rr.IntN(100)) {
				if err := s.InsertUsage(c, chunk); err != nil {
					t.Errorf("worker %d: InsertUsage: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	q := store.UsageQuery{GroupBy: []string{store.GroupCustomer, store.GroupKey, store.GroupModel, store.GroupProvider},
		Granularity: store.GranularityHour}
	checkQuery(t, s, events, w.names, q)
}

func testSpendSince(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(10, 11))
	w := newWorld(t, s)
	events := w.events(r, "spend", 1500)
	insertInBatches(t, s, r, events)
	sinces := []time.Time{{}, usageBase(), usageBase().Add(3 * time.Hour), usageBase().Add(7*time.Hour + 1234567),
		usageBase().Add(usageSpan), events[17].CreatedAt}
	for range 5 {
		sinces = append(sinces, usageBase().Add(time.Duration(r.Int64N(int64(usageSpan)))))
	}
	for _, cust := range append(slices.Clone(w.customers), "cus_none") {
		for _, since := range sinces {
			var want int64
			for _, row := range aggregate(events, nil, store.UsageQuery{From: since, GroupBy: []string{store.GroupCustomer}}) {
				if row.CustomerID == cust {
					want = row.CostPicos
				}
			}
			got, err := s.SpendSince(ctx(t), cust, since)
			must(t, "SpendSince", err)
			if got != want {
				t.Errorf("SpendSince(%s, %v) = %d, want %d", cust, since, got, want)
			}
		}
	}
}

// ClientRequestIDs checks that two events sharing a client request id are
// both stored, each with it, and one without keeps it empty. s is a fresh
// store (not migrated); stored returns "request_id=client_request_id" for
// every stored event, ordered by request id, read in the store's dialect.
func ClientRequestIDs(t *testing.T, s store.Store, stored func(ctx context.Context) ([]string, error)) {
	t.Helper()
	must(t, "Migrate", s.Migrate(ctx(t)))
	at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := store.UsageEvent{CustomerID: "c", KeyID: "k", Model: "m", Provider: "p", Status: 200, CreatedAt: at}
	a, b, c := ev, ev, ev
	a.RequestID, a.ClientRequestID = "req_a", "trace-1"
	b.RequestID, b.ClientRequestID = "req_b", "trace-1"
	c.RequestID = "req_c"
	must(t, "InsertUsage", s.InsertUsage(ctx(t), []store.UsageEvent{a, b, c}))
	got, err := stored(ctx(t))
	must(t, "read stored ids", err)
	if want := []string{"req_a=trace-1", "req_b=trace-1", "req_c="}; !slices.Equal(got, want) {
		t.Errorf("stored ids %q, want %q", got, want)
	}
}
