package api

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/metering/pricing"
	"github.com/tollgate-gw/tollgate/store"
)

// usageColumns are CONTRACT §4's columns, in order; group is the GroupBy
// dimension a column belongs to ("" for the measures, always present).
var usageColumns = []struct{ name, group string }{
	{"period_start", "period"},
	{"customer_id", store.GroupCustomer},
	{"customer_name", store.GroupCustomer},
	{"key_id", store.GroupKey},
	{"model", store.GroupModel},
	{"provider", store.GroupProvider},
	{"requests", ""},
	{"cached_requests", ""},
	{"prompt_tokens", ""},
	{"completion_tokens", ""},
	{"total_tokens", ""},
	{"cost_usd", ""},
}

// parseUsageQuery reads from, to, group_by and granularity. from defaults
// to the start of the current UTC month and to to now.
func (h *adminHandlers) parseUsageQuery(c echo.Context) (store.UsageQuery, []string, error) {
	now := h.s.now().UTC()
	q := store.UsageQuery{
		From: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC),
		To:   now,
	}
	var err error
	if v := c.QueryParam("from"); v != "" {
		if q.From, err = parseWhen(v); err != nil {
			return q, nil, invalid("from", "invalid_value", "Invalid 'from': want an RFC 3339 date or time (2026-11-01 or 2026-11-01T00:00:00Z).")
		}
	}
	if v := c.QueryParam("to"); v != "" {
		if q.To, err = parseWhen(v); err != nil {
			return q, nil, invalid("to", "invalid_value", "Invalid 'to': want an RFC 3339 date or time (2026-12-01 or 2026-12-01T00:00:00Z).")
		}
	}
	if !q.To.After(q.From) {
		return q, nil, invalid("to", "invalid_value", "'to' must be after 'from' ('to' is exclusive).")
	}
	if v := c.QueryParam("group_by"); v != "" {
		seen := map[string]bool{}
		for _, g := range strings.Split(v, ",") {
			g = strings.TrimSpace(g)
			switch g {
			case store.GroupCustomer, store.GroupKey, store.GroupModel, store.GroupProvider:
			default:
				return q, nil, invalid("group_by", "invalid_value", "Invalid 'group_by' value %q: use any of customer, key, model, provider.", g)
			}
			if !seen[g] {
				seen[g] = true
				q.GroupBy = append(q.GroupBy, g)
			}
		}
	}
	switch q.Granularity = c.QueryParam("granularity"); q.Granularity {
	case "", store.GranularityHour, store.GranularityDay, store.GranularityMonth:
	default:
		return q, nil, invalid("granularity", "invalid_value", "Invalid 'granularity': use hour, day or month.")
	}
	return q, usageHeader(q), nil
}

// parseWhen reads an RFC 3339 time or a plain date (midnight UTC).
func parseWhen(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, v)
}

// usageHeader lists the columns a query returns, in contract order.
func usageHeader(q store.UsageQuery) []string {
	grouped := map[string]bool{"": true, "period": q.Granularity != ""}
	for _, g := range q.GroupBy {
		grouped[g] = true
	}
	var cols []string
	for _, c := range usageColumns {
		if grouped[c.group] {
			cols = append(cols, c.name)
		}
	}
	return cols
}

// usageFields renders a row's columns as strings (exact: integers and a
// decimal USD amount).
func usageFields(r *store.UsageRow, cols []string) []string {
	out := make([]string, len(cols))
	for i, col := range cols {
		switch col {
		case "period_start":
			out[i] = r.PeriodStart.UTC().Format(time.RFC3339)
		case "customer_id":
			out[i] = r.CustomerID
		case "customer_name":
			out[i] = r.CustomerName
		case "key_id":
			out[i] = r.KeyID
		case "model":
			out[i] = r.Model
		case "provider":
			out[i] = r.Provider
		case "requests":
			out[i] = strconv.FormatInt(r.Requests, 10)
		case "cached_requests":
			out[i] = strconv.FormatInt(r.CachedRequests, 10)
		case "prompt_tokens":
			out[i] = strconv.FormatInt(r.PromptTokens, 10)
		case "completion_tokens":
			out[i] = strconv.FormatInt(r.CompletionTokens, 10)
		case "total_tokens":
			out[i] = strconv.FormatInt(r.TotalTokens, 10)
		case "cost_usd":
			out[i] = pricing.FormatUSD(r.CostPicos)
		}
	}
	return out
}

// numericColumns are written as JSON numbers.
var numericColumns = map[string]bool{"requests": true, "cached_requests": true, "prompt_tokens": true,
	"completion_tokens": true, "total_tokens": true, "cost_usd": true}

// usage serves GET /admin/usage: the rows as JSON objects with the
// contract's fields, plus unpriced_requests (requests whose model had no
// price: their cost is unknown, not zero).
func (h *adminHandlers) usage(c echo.Context, _ *reqState) error {
	q, cols, err := h.parseUsageQuery(c)
	if err != nil {
		return err
	}
	var rows []json.RawMessage
	err = h.a.Store.QueryUsage(c.Request().Context(), q, func(r store.UsageRow) error {
		var b []byte
		b = append(b, '{')
		for i, v := range usageFields(&r, cols) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, cols[i])
			b = append(b, ':')
			if numericColumns[cols[i]] {
				b = append(b, v...)
			} else {
				b, _ = appendJSONString(b, v)
			}
		}
		b = append(b, `,"unpriced_requests":`...)
		b = strconv.AppendInt(b, r.UnpricedRequests, 10)
		rows = append(rows, append(b, '}'))
		return nil
	})
	if err != nil {
		return errInternal(err)
	}
	return c.JSON(http.StatusOK, listOf(rows))
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	enc, err := json.Marshal(s)
	return append(b, enc...), err
}

// usageExport serves GET /admin/usage/export?format=csv, streamed row by
// row so that any period exports in constant memory.
func (h *adminHandlers) usageExport(c echo.Context, _ *reqState) error {
	if f := c.QueryParam("format"); f != "" && f != "csv" {
		return invalid("format", "invalid_value", "Invalid 'format': only csv is supported.")
	}
	q, cols, err := h.parseUsageQuery(c)
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-`+q.From.Format("20060102T150405Z")+"-"+q.To.Format("20060102T150405Z")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	n := 0
	err = h.a.Store.QueryUsage(c.Request().Context(), q, func(r store.UsageRow) error {
		if err := cw.Write(usageFields(&r, cols)); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			cw.Flush()
			w.Flush()
		}
		return cw.Error()
	})
	cw.Flush()
	if err != nil {
		// The header is out: the truncated CSV cannot become an error
		// answer. Abort the connection so the client sees a failed
		// download rather than a short file it could mistake for complete.
		h.s.log.Error("usage export failed mid-stream", "error", err)
		panic(http.ErrAbortHandler)
	}
	return cw.Error()
}
