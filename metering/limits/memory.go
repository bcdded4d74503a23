package limits

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// shardCount is the number of independently locked parts of Memory's
// maps; a power of two.
const shardCount = 64

// sweepInterval is how often Run removes idle counters.
const sweepInterval = time.Minute

// Memory is a Limiter that keeps its counters in process: right for a
// single replica (with several, each would enforce the limits on its own;
// use Redis). It is safe for concurrent use and must not be copied.
//
// Counters live in sharded maps, one mutex per shard: a key's minute and
// day windows in the key's shard and a customer's month in the customer's
// shard. Reserve locks at most two shards, in index order, so checks and
// increments are atomic without a global lock. Each key and customer has
// one entry whose windows are reset in place when the clock moves into a
// new window (lazily, on the next access); entries nobody touched for a
// whole window are deleted by Sweep, which Run calls every minute. Without
// Run, memory grows by one small entry per key and customer ever seen.
//
// The zero value works, with the real clock and no spend loader.
type Memory struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SpendLoader seeds a customer's monthly spend on the customer's first
	// budget check of the month; nil means zero.
	SpendLoader SpendLoader

	shards [shardCount]shard
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns a Memory with opts' clock and spend loader.
func NewMemory(opts Options) *Memory {
	return &Memory{Now: opts.Now, SpendLoader: opts.SpendLoader}
}

// shard is one locked part of the maps, padded to a cache line so that
// neighbouring shards' locks do not contend.
type shard struct {
	mu        sync.Mutex
	keys      map[string]*keyCounters
	customers map[string]*customerCounters
	_         [40]byte
}

// keyCounters are one key's minute and day windows.
type keyCounters struct {
	minute, day                          int64 // window starts, Unix seconds
	minuteReq, minuteTok, dayReq, dayTok int64
}

// customerCounters are one customer's month window.
type customerCounters struct {
	month  int64 // window start, Unix seconds
	spend  int64 // pico-USD
	seeded bool  // spend includes the SpendLoader's figure for month
	// loading is closed when the SpendLoader call in flight ends.
	loading chan struct{}
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// shardOf returns the index of the shard that holds id.
func shardOf(id string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % shardCount)
}

// errRollover is returned when Reserve keeps finding the customer's month
// unseeded, which takes a month boundary between attempts.
var errRollover = errors.New("limits: month window rolled over while reserving; retry")

// Reserve implements Limiter.
func (m *Memory) Reserve(ctx context.Context, req Request) (Decision, *Reservation, error) {
	for range 3 {
		w := windowsAt(m.now())
		r := newReservation(req, w)
		if r.track&trackBudget != 0 {
			if err := m.seed(ctx, req.CustomerID, w.month); err != nil {
				return Decision{}, nil, err
			}
		}
		d, ok := m.reserve(req.Policy, r, w)
		if !ok {
			continue // the month entry moved on or was swept: seed again
		}
		if !d.Allowed {
			return d, nil, nil
		}
		return d, r, nil
	}
	return Decision{}, nil, errRollover
}

// reserve checks and counts r under the shard locks. It reports false,
// without counting, when the customer's month is not seeded.
func (m *Memory) reserve(p Policy, r *Reservation, w windows) (Decision, bool) {
	ks, cs := -1, -1
	if r.track&^trackBudget != 0 {
		ks = shardOf(r.keyID)
	}
	if r.track&trackBudget != 0 {
		cs = shardOf(r.customerID)
	}
	m.lockPair(ks, cs)
	defer m.unlockPair(ks, cs)

	var kc *keyCounters
	if ks >= 0 {
		kc = m.shards[ks].key(r.keyID)
		if r.track&(trackMinuteRequests|trackMinuteTokens) != 0 {
			r.minute = forward(&kc.minute, r.minute, &kc.minuteReq, &kc.minuteTok)
		}
		if r.track&(trackDayRequests|trackDayTokens) != 0 {
			r.day = forward(&kc.day, r.day, &kc.dayReq, &kc.dayTok)
		}
		w.minute, w.day = r.minute, r.day
	}
	var cc *customerCounters
	if cs >= 0 {
		cc = m.shards[cs].customer(r.customerID)
		if cc.month < r.month || !cc.seeded {
			return Decision{}, false
		}
		r.month, w.month = cc.month, cc.month
	}
	var refused uint8
	var minuteReq, minuteTok int64
	if kc != nil {
		minuteReq, minuteTok = kc.minuteReq, kc.minuteTok
		refused = check(p, r, kc.minuteReq, kc.minuteTok, kc.dayReq, kc.dayTok)
	}
	if cc != nil && cc.spend+r.cost > p.budgetPicos() {
		refused |= refusedBudget
	}
	if refused == 0 {
		minuteReq, minuteTok = r.count(kc, cc)
	}
	return decide(p, refused, w, minuteReq, minuteTok), true
}

// check returns the refusal bits of the key's windows for r.
func check(p Policy, r *Reservation, minuteReq, minuteTok, dayReq, dayTok int64) uint8 {
	var refused uint8
	if r.track&trackMinuteRequests != 0 && minuteReq+1 > p.RPM {
		refused |= refusedRPM
	}
	if r.track&trackMinuteTokens != 0 && minuteTok+r.tpm > p.TPM {
		refused |= refusedTPM
	}
	if r.track&trackDayRequests != 0 && dayReq+1 > p.RPD {
		refused |= refusedRPD
	}
	if r.track&trackDayTokens != 0 && dayTok+r.tpd > p.TPD {
		refused |= refusedTPD
	}
	return refused
}

// count adds r to the counters it tracks and returns the minute window's
// new request and token counts.
func (r *Reservation) count(kc *keyCounters, cc *customerCounters) (minuteReq, minuteTok int64) {
	if kc != nil {
		if r.track&trackMinuteRequests != 0 {
			kc.minuteReq++
		}
		if r.track&trackMinuteTokens != 0 {
			kc.minuteTok += r.tpm
		}
		if r.track&trackDayRequests != 0 {
			kc.dayReq++
		}
		if r.track&trackDayTokens != 0 {
			kc.dayTok += r.tpd
		}
		minuteReq, minuteTok = kc.minuteReq, kc.minuteTok
	}
	if cc != nil {
		cc.spend += r.cost
	}
	return minuteReq, minuteTok
}

// forward moves a window to start cur, emptying its counters, unless it
// is already there or later (another goroutine's clock read a moment
// after ours: windows only move forward). It returns the window's start.
func forward(start *int64, cur int64, requests, tokens *int64) int64 {
	if *start < cur {
		*start, *requests, *tokens = cur, 0, 0
	}
	return *start
}

// lockPair locks the shards a and b (either may be -1 for none; they may
// be equal) in index order, so that two Reserves never deadlock.
func (m *Memory) lockPair(a, b int) {
	lo, hi := min(a, b), max(a, b)
	if lo >= 0 && lo != hi {
		m.shards[lo].mu.Lock()
	}
	if hi >= 0 {
		m.shards[hi].mu.Lock()
	}
}

// unlockPair unlocks what lockPair(a, b) locked.
func (m *Memory) unlockPair(a, b int) {
	lo, hi := min(a, b), max(a, b)
	if hi >= 0 {
		m.shards[hi].mu.Unlock()
	}
	if lo >= 0 && lo != hi {
		m.shards[lo].mu.Unlock()
	}
}

// key returns id's counters, creating them. The shard must be locked.
func (s *shard) key(id string) *keyCounters {
	kc := s.keys[id]
	if kc == nil {
		if s.keys == nil {
			s.keys = make(map[string]*keyCounters)
		}
		kc = &keyCounters{}
		s.keys[id] = kc
	}
	return kc
}

// customer returns id's counters, creating them. The shard must be locked.
func (s *shard) customer(id string) *customerCounters {
	cc := s.customers[id]
	if cc == nil {
		if s.customers == nil {
			s.customers = make(map[string]*customerCounters)
		}
		cc = &customerCounters{}
		s.customers[id] = cc
	}
	return cc
}

// seed makes sure the customer's spend for the month starting at month
// includes the SpendLoader's figure. One caller loads; concurrent callers
// for the same customer wait for it. No lock is held during the load.
func (m *Memory) seed(ctx context.Context, customerID string, month int64) error {
	s := &m.shards[shardOf(customerID)]
	for {
		s.mu.Lock()
		cc := s.customer(customerID)
		if cc.month > month || (cc.month == month && cc.seeded) {
			s.mu.Unlock()
			return nil
		}
		if ch := cc.loading; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return fmt.Errorf("limits: wait for spend of customer %s: %w", customerID, ctx.Err())
			}
		}
		if cc.month < month {
			cc.month, cc.spend, cc.seeded = month, 0, false
		}
		ch := make(chan struct{})
		cc.loading = ch
		s.mu.Unlock()

		picos, err := m.loadSpend(ctx, customerID, month)

		s.mu.Lock()
		cc.loading = nil
		close(ch)
		if err == nil && cc.month == month {
			cc.spend += picos
			cc.seeded = true
		}
		s.mu.Unlock()
		return err
	}
}

// loadSpend calls the SpendLoader, if any.
func (m *Memory) loadSpend(ctx context.Context, customerID string, month int64) (int64, error) {
	if m.SpendLoader == nil {
		return 0, nil
	}
	picos, err := m.SpendLoader(ctx, customerID, monthStart(month))
	if err != nil {
		return 0, fmt.Errorf("limits: load spend of customer %s: %w", customerID, err)
	}
	return picos, nil
}

// Settle implements Limiter. Amounts for a window that has ended since
// Reserve are dropped: that window no longer limits anything.
func (m *Memory) Settle(_ context.Context, r *Reservation, tokens, costPicos int64) error {
	if !r.finish() {
		return nil
	}
	dMinute, dDay, dCost := r.deltas(tokens, costPicos)
	if dMinute != 0 || dDay != 0 {
		s := &m.shards[shardOf(r.keyID)]
		s.mu.Lock()
		if kc := s.keys[r.keyID]; kc != nil {
			if kc.minute == r.minute {
				kc.minuteTok = max(kc.minuteTok+dMinute, 0)
			}
			if kc.day == r.day {
				kc.dayTok = max(kc.dayTok+dDay, 0)
			}
		}
		s.mu.Unlock()
	}
	if dCost != 0 {
		s := &m.shards[shardOf(r.customerID)]
		s.mu.Lock()
		if cc := s.customers[r.customerID]; cc != nil && cc.month == r.month {
			cc.spend = max(cc.spend+dCost, 0)
		}
		s.mu.Unlock()
	}
	return nil
}

// Release implements Limiter: Settle with nothing used.
func (m *Memory) Release(ctx context.Context, r *Reservation) error {
	return m.Settle(ctx, r, 0, 0)
}

// Sweep deletes the counters of keys whose minute and day windows have
// both ended and of customers whose month has ended: they hold nothing
// that still limits. It returns the number of entries deleted.
func (m *Memory) Sweep() int {
	w := windowsAt(m.now())
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for id, kc := range s.keys {
			if kc.minute < w.minute && kc.day < w.day {
				delete(s.keys, id)
				n++
			}
		}
		for id, cc := range s.customers {
			if cc.month < w.month && cc.loading == nil {
				delete(s.customers, id)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Run calls Sweep every minute until ctx is done; it returns nil then.
func (m *Memory) Run(ctx context.Context) error {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.Sweep()
		}
	}
}
