package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/internal/usageplan"
)

const insertEventSQL = `INSERT INTO usage_events (request_id, key_id, customer_id, model, provider,
	upstream_model, endpoint, prompt_tokens, completion_tokens, cached_tokens, cost_picos, priced,
	estimated, cache_hit, stream, status, latency_ms, created_at, client_request_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (request_id) DO NOTHING`

// upsertHourSQL adds a batch's sums to a rollup row. The table is STRICT:
// an addition that overflowed into a REAL would fail to store.
const upsertHourSQL = `INSERT INTO usage_hourly AS h (hour, customer_id, key_id, model, provider,
	requests, cached_requests, unpriced_requests, prompt_tokens, completion_tokens, cost_picos)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (hour, customer_id, key_id, model, provider) DO UPDATE SET
	requests          = h.requests + excluded.requests,
	cached_requests   = h.cached_requests + excluded.cached_requests,
	unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
	prompt_tokens     = h.prompt_tokens + excluded.prompt_tokens,
	completion_tokens = h.completion_tokens + excluded.completion_tokens,
	cost_picos        = h.cost_picos + excluded.cost_picos`

// hourKey is a rollup row's key; hourSums its sums.
type (
	hourKey struct {
		hour                           int64
		customer, key, model, provider string
	}
	hourSums struct {
		requests, cached, unpriced, prompt, completion, cost int64
	}
)

// add adds e to the sums, failing on an int64 overflow.
func (h *hourSums) add(e store.UsageEvent) (err error) {
	h.requests++
	if e.CacheHit {
		h.cached++
	}
	if !e.Priced {
		h.unpriced++
	}
	if h.prompt, err = usageplan.AddExact(h.prompt, e.PromptTokens); err != nil {
		return err
	}
	if h.completion, err = usageplan.AddExact(h.completion, e.CompletionTokens); err != nil {
		return err
	}
	h.cost, err = usageplan.AddExact(h.cost, e.CostPicos)
	return err
}

// InsertUsage writes events and adds the ones actually inserted (not the
// replays, nor repeats within events) to the hourly rollup, all in one
// transaction.
func (s *Store) InsertUsage(ctx context.Context, events []store.UsageEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, "insert usage", func(tx *sql.Tx) error {
		sums, err := insertEvents(ctx, tx, events)
		if err != nil {
			return err
		}
		up, err := tx.PrepareContext(ctx, upsertHourSQL)
		if err != nil {
			return err
		}
		defer up.Close()
		for k, h := range sums {
			_, err := up.ExecContext(ctx, k.hour, k.customer, k.key, k.model, k.provider,
				h.requests, h.cached, h.unpriced, h.prompt, h.completion, h.cost)
			if err != nil {
				return fmt.Errorf("update rollup: %w", err)
			}
		}
		return nil
	})
}

// insertEvents inserts the events and returns the rollup sums of those
// that were new.
func insertEvents(ctx context.Context, tx *sql.Tx, events []store.UsageEvent) (map[hourKey]*hourSums, error) {
	ins, err := tx.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	sums := map[hourKey]*hourSums{}
	for _, e := range events {
		at := usageplan.UTC(e.CreatedAt)
		res, err := ins.ExecContext(ctx, e.RequestID, e.KeyID, e.CustomerID, e.Model, e.Provider,
			e.UpstreamModel, e.Endpoint, e.PromptTokens, e.CompletionTokens, e.CachedTokens, e.CostPicos,
			e.Priced, e.Estimated, e.CacheHit, e.Stream, e.Status, e.LatencyMS, micros(at), e.ClientRequestID)
		if err != nil {
			return nil, fmt.Errorf("insert event %s: %w", e.RequestID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // already stored
		}
		k := hourKey{micros(at.Truncate(time.Hour)), e.CustomerID, e.KeyID, e.Model, e.Provider}
		h := sums[k]
		if h == nil {
			h = &hourSums{}
			sums[k] = h
		}
		if err := h.add(e); err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// QueryUsage streams the grouped usage rows to fn, ordered by period then
// the grouped fields (byte order). Whole hours are read from the rollup,
// partial edge hours from the ledger, so sums are exact for any From and
// To. An int64 overflow of a sum is an error. A zero To means no upper
// bound.
func (s *Store) QueryUsage(ctx context.Context, q store.UsageQuery, fn func(store.UsageRow) error) error {
	p, err := usageplan.New(q)
	if err != nil {
		return fmt.Errorf("sqlite: query usage: %w", err)
	}
	if p.Empty {
		return nil
	}
	rows, err := s.r.QueryContext(ctx, usageSQL(p), micros(p.From), micros(p.To), micros(p.RollupFrom), micros(p.RollupTo))
	if err != nil {
		return wrap("query usage", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      store.UsageRow
			period sql.NullInt64
		)
		err := rows.Scan(&period, &r.CustomerID, &r.CustomerName, &r.KeyID, &r.Model, &r.Provider,
			&r.Requests, &r.CachedRequests, &r.UnpricedRequests, &r.PromptTokens,
			&r.CompletionTokens, &r.CostPicos)
		if err != nil {
			return wrap("query usage: scan", err)
		}
		if period.Valid {
			r.PeriodStart = fromMicros(period.Int64)
		}
		if r.TotalTokens, err = usageplan.AddExact(r.PromptTokens, r.CompletionTokens); err != nil {
			return fmt.Errorf("sqlite: query usage: total tokens: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrap("query usage", rows.Err())
}

// usageSQL builds the query for p. Parameters (microseconds): ?1 From, ?2
// To, ?3 RollupFrom, ?4 RollupTo.
func usageSQL(p usageplan.Plan) string {
	const hourUS, dayUS = 3_600_000_000, 86_400_000_000
	period := "NULL"
	switch p.Granularity {
	case store.GranularityHour:
		period = "hour"
	case store.GranularityDay:
		period = fmt.Sprintf("(hour - (hour %% %d))", dayUS)
	case store.GranularityMonth:
		period = "(CAST(strftime('%s', hour / 1000000, 'unixepoch', 'start of month') AS INTEGER) * 1000000)"
	}
	sel := []string{period + " AS period"}
	var group []string
	if p.Granularity != "" {
		group = append(group, "1")
	}
	for i, col := range []struct {
		on   bool
		name string
	}{{p.Customer, "customer_id"}, {p.Key, "key_id"}, {p.Model, "model"}, {p.Provider, "provider"}} {
		if col.on {
			sel = append(sel, col.name)
			group = append(group, fmt.Sprint(i+2))
		} else {
			sel = append(sel, "'' AS "+col.name)
		}
	}
	groupBy := ""
	if len(group) > 0 {
		groupBy = "GROUP BY " + strings.Join(group, ", ")
	}
	name, join := "''", ""
	if p.Customer {
		name = "coalesce(c.name, '')"
		join = "LEFT JOIN customers c ON c.id = a.customer_id"
	}
	return `WITH src AS (
	SELECT hour, customer_id, key_id, model, provider, requests, cached_requests,
		unpriced_requests, prompt_tokens, completion_tokens, cost_picos
	FROM usage_hourly WHERE hour >= ?3 AND hour < ?4
	UNION ALL
	SELECT created_at - (created_at % ` + fmt.Sprint(hourUS) + `), customer_id, key_id, model, provider, 1,
		cache_hit, 1 - priced, prompt_tokens, completion_tokens, cost_picos
	FROM usage_events
	WHERE (created_at >= ?1 AND created_at < ?3) OR (created_at >= ?4 AND created_at < ?2)
), a AS (
	SELECT ` + strings.Join(sel, ", ") + `,
		sum(requests) AS requests, sum(cached_requests) AS cached_requests,
		sum(unpriced_requests) AS unpriced_requests, sum(prompt_tokens) AS prompt_tokens,
		sum(completion_tokens) AS completion_tokens, sum(cost_picos) AS cost_picos
	FROM src ` + groupBy + `
	HAVING count(*) > 0
)
SELECT a.period, a.customer_id, ` + name + `, a.key_id, a.model, a.provider, a.requests,
	a.cached_requests, a.unpriced_requests, a.prompt_tokens, a.completion_tokens, a.cost_picos
FROM a ` + join + `
ORDER BY a.period, a.customer_id, a.key_id, a.model, a.provider`
}

// SpendSince returns the sum of the customer's CostPicos for events at or
// after since: whole hours from the rollup, the partial first hour from
// the ledger. An int64 overflow is an error.
func (s *Store) SpendSince(ctx context.Context, customerID string, since time.Time) (int64, error) {
	from := usageplan.UTC(since)
	var spend int64
	err := s.r.QueryRowContext(ctx, `SELECT
		coalesce((SELECT sum(cost_picos) FROM usage_hourly WHERE customer_id = ?1 AND hour >= ?3), 0) +
		coalesce((SELECT sum(cost_picos) FROM usage_events
			WHERE customer_id = ?1 AND created_at >= ?2 AND created_at < ?3), 0)`,
		customerID, micros(from), micros(usageplan.CeilHour(from))).Scan(&spend)
	return spend, wrap("spend since", err)
}
