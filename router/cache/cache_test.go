package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheDo(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Store: NewMemory(1 << 20), TTL: time.Hour}
	var calls int
	fn := func() (*Entry, error) { calls++; return &Entry{Body: []byte(fmt.Sprint(calls)), PublicModel: "m"}, nil }

	r, err := c.Do(ctx, "k", Directives{}, fn)
	if err != nil || r.Status != Miss || !r.Fresh || string(r.Entry.Body) != "1" || r.Entry.CreatedAt.IsZero() {
		t.Fatalf("first: %+v %v", r, err)
	}
	r, err = c.Do(ctx, "k", Directives{}, fn)
	if err != nil || r.Status != Hit || r.Fresh || string(r.Entry.Body) != "1" || calls != 1 {
		t.Fatalf("second: %+v %v, %d calls", r, err, calls)
	}
	r, _ = c.Do(ctx, "k", Directives{NoStore: true}, fn)
	if r.Status != Bypass || !r.Fresh || string(r.Entry.Body) != "2" {
		t.Fatalf("no-store: %+v", r)
	}
	if r, _ = c.Do(ctx, "k", Directives{}, fn); string(r.Entry.Body) != "1" {
		t.Fatalf("no-store overwrote the entry: %s", r.Entry.Body)
	}
	r, _ = c.Do(ctx, "k", Directives{NoCache: true}, fn)
	if r.Status != Bypass || string(r.Entry.Body) != "3" {
		t.Fatalf("no-cache: %+v", r)
	}
	if r, _ = c.Do(ctx, "k", Directives{}, fn); r.Status != Hit || string(r.Entry.Body) != "3" {
		t.Fatalf("no-cache did not store the fresh answer: %+v", r)
	}
	boom := errors.New("boom")
	if r, err := c.Do(ctx, "other", Directives{}, func() (*Entry, error) { return nil, boom }); !errors.Is(err, boom) || r.Status != Miss {
		t.Fatalf("failing fn: %+v %v", r, err)
	}
	if _, ok, _ := c.Store.Get(ctx, "other"); ok {
		t.Error("a failed answer was stored")
	}
}

func TestCacheDirectiveTTL(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(1 << 20)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m.SetClock(clk.now)
	c := &Cache{Store: m, TTL: time.Hour, Now: clk.now}
	fn := func() (*Entry, error) { return &Entry{Body: []byte("x")}, nil }
	if _, err := c.Do(ctx, "k", Directives{TTL: time.Minute}, fn); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	if r, _ := c.Do(ctx, "k", Directives{}, fn); r.Status != Miss {
		t.Errorf("entry outlived x-tollgate-cache-ttl: %s", r.Status)
	}
	clk.advance(30 * time.Minute)
	if r, _ := c.Do(ctx, "k", Directives{}, fn); r.Status != Hit {
		t.Errorf("config TTL: %s", r.Status)
	}
}

// TestCacheSingleFlight: N identical concurrent misses make one upstream
// call; the others are answered as hits.
func TestCacheSingleFlight(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Store: NewMemory(1 << 20), TTL: time.Hour}
	var calls atomic.Int32
	release := make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	var fresh, hits atomic.Int32
	for range n {
		wg.Go(func() {
			r, err := c.Do(ctx, "k", Directives{}, func() (*Entry, error) {
				calls.Add(1)
				<-release
				return &Entry{Body: []byte("answer")}, nil
			})
			if err != nil || string(r.Entry.Body) != "answer" {
				t.Errorf("%+v %v", r, err)
			}
			if r.Fresh {
				fresh.Add(1)
			}
			if r.Status == Hit {
				hits.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let every caller reach the lookup
	close(release)
	wg.Wait()
	if calls.Load() != 1 || fresh.Load() != 1 || hits.Load() != n-1 {
		t.Errorf("%d upstream calls, %d fresh, %d hits; want 1, 1, %d", calls.Load(), fresh.Load(), hits.Load(), n-1)
	}
}

// TestCacheSharedFailure: when the shared call fails, a waiting caller
// tries on its own.
func TestCacheSharedFailure(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Store: NewMemory(1 << 20), TTL: time.Hour}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, "k", Directives{}, func() (*Entry, error) {
			close(started)
			<-release
			return nil, errors.New("client went away")
		})
		done <- err
	}()
	<-started
	res := make(chan Result, 1)
	go func() {
		r, err := c.Do(ctx, "k", Directives{}, func() (*Entry, error) { return &Entry{Body: []byte("mine")}, nil })
		if err != nil {
			t.Error(err)
		}
		res <- r
	}()
	for {
		c.group.mu.Lock()
		d := c.group.calls["k"].dups
		c.group.mu.Unlock()
		if d == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("leader: no error")
	}
	if r := <-res; string(r.Entry.Body) != "mine" || !r.Fresh || r.Status != Miss {
		t.Errorf("follower after a failed shared call: %+v", r)
	}
}

// TestCacheNoCrossTenantLeak stores an answer for one customer and checks
// that another customer sending the identical request misses under the
// default customer scope, and hits under global scope.
func TestCacheNoCrossTenantLeak(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Store: NewMemory(1 << 20), TTL: time.Hour}
	answer := func(who string) func() (*Entry, error) {
		return func() (*Entry, error) { return &Entry{Body: []byte("secret of " + who)}, nil }
	}
	for _, scope := range []string{ScopeCustomer, ScopeKey, ScopeGlobal} {
		kA, _ := Key([]byte(baseReq), "chat-default", ScopeID(scope, "acme", "key-a-"+scope))
		kB, _ := Key([]byte(baseReq), "chat-default", ScopeID(scope, "globex", "key-b-"+scope))
		if _, err := c.Do(ctx, kA, Directives{}, answer("acme")); err != nil {
			t.Fatal(err)
		}
		r, err := c.Do(ctx, kB, Directives{}, answer("globex"))
		if err != nil {
			t.Fatal(err)
		}
		leaked := string(r.Entry.Body) == "secret of acme"
		if scope != ScopeGlobal && (leaked || r.Status != Miss) {
			t.Errorf("scope %s: globex got %q (%s)", scope, r.Entry.Body, r.Status)
		}
		if scope == ScopeGlobal && (!leaked || r.Status != Hit) {
			t.Errorf("scope global: globex got %q (%s), want the shared answer", r.Entry.Body, r.Status)
		}
	}
}
