package cache

import (
	"context"
	"fmt"
	"time"
)

// Cache is what the HTTP layer calls: a Store, the configured TTL and a
// single-flight Group, put together so that one call per request does the
// lookup, the collapsing of identical concurrent misses and the store of
// the fresh answer. Its zero value is not usable: set Store. A Cache must
// not be copied after first use.
type Cache struct {
	// Store holds the entries (NewMemory or NewRedis).
	Store Store
	// TTL is the configured entry lifetime (cache.ttl), used when the
	// client sent no x-tollgate-cache-ttl.
	TTL time.Duration
	// Now stamps Entry.CreatedAt when fn left it zero; nil means
	// time.Now.
	Now func() time.Time

	group Group
}

// Result is the outcome of Cache.Do.
type Result struct {
	// Entry is the answer.
	Entry *Entry
	// Status is the x-tollgate-cache response header: Hit when the answer
	// came from the cache or from an identical request in flight, Miss
	// when this request's fn produced it after a lookup, Bypass when the
	// client's directives skipped the lookup.
	Status string
	// Fresh reports whether this request's own fn produced Entry (so a
	// streaming fn has already written it to the client, and it is
	// metered as an upstream request). When false, the caller sends Entry
	// (its Body, or Replay when the client streams) and meters a cached
	// request.
	Fresh bool
	// StoreErr is a store failure that Do tolerated (a failed lookup is
	// treated as a miss, a failed store is skipped); log it.
	StoreErr error
}

// Do answers one request with cache key key (see Key and ScopeID) under
// the client's directives d. fn produces a fresh answer: for a streaming
// request it streams to the client while feeding an Assembler and
// returns the assembled Entry (an error when the stream broke off, so a
// broken answer is never stored or shared).
//
// On a hit fn is not called. On a miss, concurrent calls with the same
// key share one fn call: the first caller runs fn, the others get its
// Entry with Status Hit and Fresh false. If that shared call fails, each
// waiting caller runs its own fn, so one client's failure is not
// everyone's. fn runs under the caller's context; the store write does
// not (context.WithoutCancel), so an answer is kept even when its client
// left. The error returned is fn's.
func (c *Cache) Do(ctx context.Context, key string, d Directives, fn func() (*Entry, error)) (Result, error) {
	if !d.Lookup() {
		e, err := fn()
		if err != nil {
			return Result{Status: Bypass}, err
		}
		r := Result{Entry: e, Status: Bypass, Fresh: true}
		if d.Store() {
			r.StoreErr = c.set(ctx, key, e, d)
		}
		return r, nil
	}
	e, ok, getErr := c.Store.Get(ctx, key)
	if ok {
		return Result{Entry: e, Status: Hit}, nil
	}
	var ran, storedMeanwhile bool
	var storeErr error
	e, _, err := c.group.Do(key, func() (*Entry, error) {
		ran = true
		// An identical request may have completed between our lookup and
		// now (we were descheduled): look again before going upstream.
		if e, ok, _ := c.Store.Get(ctx, key); ok {
			storedMeanwhile = true
			return e, nil
		}
		e, err := fn()
		if err != nil {
			return nil, err
		}
		storeErr = c.set(ctx, key, e, d)
		return e, nil
	})
	if !ran {
		if err == nil {
			return Result{Entry: e, Status: Hit, StoreErr: getErr}, nil
		}
		// The shared call failed: try on our own, without single flight.
		if e, err = fn(); err != nil {
			return Result{Status: Miss, StoreErr: getErr}, err
		}
		storeErr = c.set(ctx, key, e, d)
	}
	if err != nil {
		return Result{Status: Miss, StoreErr: getErr}, err
	}
	if storedMeanwhile {
		return Result{Entry: e, Status: Hit, StoreErr: getErr}, nil
	}
	if getErr == nil {
		getErr = storeErr
	}
	return Result{Entry: e, Status: Miss, Fresh: true, StoreErr: getErr}, nil
}

// set stores e under key with the directives' TTL, stamping CreatedAt.
func (c *Cache) set(ctx context.Context, key string, e *Entry, d Directives) error {
	if e == nil {
		return nil
	}
	if e.CreatedAt.IsZero() {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		e.CreatedAt = now()
	}
	if err := c.Store.Set(context.WithoutCancel(ctx), key, e, d.TTLOr(c.TTL)); err != nil {
		return fmt.Errorf("cache: store answer: %w", err)
	}
	return nil
}
