// Package usageplan turns a store.UsageQuery into the plan both SQL stores
// execute: the grouped fields, the granularity, and the split of
// [From, To) into whole hours, read from the hourly rollup, and
// the partial edge hours, read from the raw events. Sums are exact for any
// From and To, aligned to the hour or not.
package usageplan

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// Precision is the resolution at which the stores keep times; finer parts
// of event times and query bounds are truncated.
const Precision = time.Microsecond

// Plan is a validated usage query.
type Plan struct {
	// From and To are the query's bounds in UTC, truncated to Precision;
	// a zero query To becomes 9999-12-31, i.e. no upper bound.
	From, To time.Time
	// RollupFrom and RollupTo bound the whole hours read from the rollup:
	// From <= RollupFrom <= RollupTo <= To. The raw events are read for
	// [From, RollupFrom) and [RollupTo, To). When no whole hour fits, both
	// are To, so the raw events cover the whole range.
	RollupFrom, RollupTo time.Time
	// Customer, Key, Model and Provider say which fields are grouped.
	Customer, Key, Model, Provider bool
	// Granularity is "", store.GranularityHour, store.GranularityDay or
	// store.GranularityMonth.
	Granularity string
	// Empty is true when From >= To: the query has no rows.
	Empty bool
}

// ErrInvalid is returned (wrapped) for an unknown grouping or granularity.
var ErrInvalid = errors.New("invalid usage query")

// New validates q and plans it.
func New(q store.UsageQuery) (Plan, error) {
	p := Plan{From: UTC(q.From), To: UTC(q.To)}
	if q.To.IsZero() {
		p.To = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // no upper bound
	}
	for _, g := range q.GroupBy {
		switch g {
		case store.GroupCustomer:
			p.Customer = true
		case store.GroupKey:
			p.Key = true
		case store.GroupModel:
			p.Model = true
		case store.GroupProvider:
			p.Provider = true
		default:
			return Plan{}, fmt.Errorf("%w: group_by %q (want customer, key, model or provider)", ErrInvalid, g)
		}
	}
	switch q.Granularity {
	case "", store.GranularityHour, store.GranularityDay, store.GranularityMonth:
		p.Granularity = q.Granularity
	default:
		return Plan{}, fmt.Errorf("%w: granularity %q (want hour, day, month or none)", ErrInvalid, q.Granularity)
	}
	if !p.From.Before(p.To) {
		p.Empty = true
		p.RollupFrom, p.RollupTo = p.To, p.To
		return p, nil
	}
	p.RollupFrom = CeilHour(p.From)
	p.RollupTo = p.To.Truncate(time.Hour)
	if !p.RollupFrom.Before(p.RollupTo) {
		p.RollupFrom, p.RollupTo = p.To, p.To
	}
	return p, nil
}

// UTC returns t in UTC truncated to Precision.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(Precision) }

// CeilHour returns the first hour boundary at or after t.
func CeilHour(t time.Time) time.Time {
	h := t.Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h
}

// AddExact returns a+b, or an error when the sum overflows int64.
func AddExact(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("usage sum overflows int64 (%d + %d)", a, b)
	}
	return a + b, nil
}
