package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis connects to TOLLGATE_TEST_REDIS_URL (scripts/test.sh sets it).
// Without it the test is skipped, or fails when CI=true.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("TOLLGATE_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TOLLGATE_TEST_REDIS_URL is not set (CI=true): run the tests with scripts/test.sh")
		}
		t.Skip("TOLLGATE_TEST_REDIS_URL is not set: run the tests with scripts/test.sh for the Redis tests")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TOLLGATE_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at TOLLGATE_TEST_REDIS_URL: %v", err)
	}
	return c
}

// testPrefix returns a key prefix of the test's own and deletes its keys
// when the test ends.
func testPrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "tg:lim:test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := scanKeys(ctx, c, prefix)
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("clean up %s*: %v", prefix, err)
		}
	})
	return prefix
}

func scanKeys(ctx context.Context, c *redis.Client, prefix string) ([]string, error) {
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

func TestRedis(t *testing.T) {
	runSuite(t, func(t *testing.T, o Options) Limiter {
		c := testRedis(t)
		o.Prefix = testPrefix(t, c)
		return NewRedis(c, o)
	})
}

// TestRedisTwoGateways stands two gateway processes in for two clients of
// their own, with limiters sharing one prefix: fifty requests spread over
// both admit exactly the limit.
func TestRedisTwoGateways(t *testing.T) {
	a, b := testRedis(t), testRedis(t)
	prefix := testPrefix(t, a)
	clock := &fakeClock{t: t0}
	loader := &spendLoader{spend: map[string]int64{}}
	gateways := []Limiter{
		NewRedis(a, Options{Prefix: prefix, Now: clock.Now, SpendLoader: loader.Load}),
		NewRedis(b, Options{Prefix: prefix, Now: clock.Now, SpendLoader: loader.Load}),
	}
	p := Policy{RPM: 10, TPM: 100_000, BudgetMicros: 1}
	got := parallel(t, 50, func(i int) (Decision, *Reservation, error) {
		return gateways[i%2].Reserve(context.Background(), req(p, 100, 1000))
	})
	if len(got) != 10 {
		t.Fatalf("%d of 50 admitted across two gateways, want exactly 10", len(got))
	}

	p = Policy{TPM: 1000}
	got = parallel(t, 50, func(i int) (Decision, *Reservation, error) {
		return gateways[i%2].Reserve(context.Background(), Request{KeyID: "k2", CustomerID: "c1", Policy: p, Tokens: 100})
	})
	if len(got) != 10 {
		t.Fatalf("%d of 50 token reservations admitted across two gateways, want exactly 10", len(got))
	}
	for i, r := range got {
		if err := gateways[i%2].Settle(context.Background(), r, 50, 0); err != nil {
			t.Fatal(err)
		}
	}
	got = parallel(t, 50, func(i int) (Decision, *Reservation, error) {
		return gateways[i%2].Reserve(context.Background(), Request{KeyID: "k2", CustomerID: "c1", Policy: p, Tokens: 50})
	})
	if len(got) != 10 {
		t.Fatalf("after settling, %d of 50 admitted across two gateways, want exactly 10", len(got))
	}
	if calls := loader.Calls(); len(calls) > 2 {
		t.Fatalf("spend loaded %d times by two gateways, want at most one each", len(calls))
	}
}

// TestRedisKeys checks the key names, that each expires a little after its
// window ends, and that nothing else is written.
func TestRedisKeys(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	clock := &fakeClock{t: t0}
	l := NewRedis(c, Options{Prefix: prefix, Now: clock.Now})
	p := Policy{RPM: 1, TPD: 100, BudgetMicros: 1}
	if _, _, err := l.Reserve(context.Background(), req(p, 10, 10)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := scanKeys(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		prefix + "{c1}:k:k1:m:1747218000": toMinuteEnd,
		prefix + "{c1}:k:k1:d:1747180800": toDayEnd,
		prefix + "{c1}:b:1746057600":      toMonthEnd,
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %d", keys, len(want))
	}
	for key, end := range want {
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < end || ttl > end+ttlGrace {
			t.Errorf("%s: TTL %v, want between %v and %v", key, ttl, end, end+ttlGrace)
		}
	}
	if v, _ := c.HGetAll(ctx, prefix+"{c1}:k:k1:m:1747218000").Result(); !strings.Contains(v["r"], "1") {
		t.Errorf("minute hash %v, want r=1", v)
	}
}

// TestRedisDefaultPrefix checks the prefix a zero Options gets.
func TestRedisDefaultPrefix(t *testing.T) {
	l := NewRedis(nil, Options{})
	keys := l.keys(Request{KeyID: "k", CustomerID: "c"}, windowsAt(t0))
	if !strings.HasPrefix(keys[0], DefaultPrefix+"{c}:") {
		t.Fatalf("key %q", keys[0])
	}
	keys = l.keys(Request{KeyID: "k"}, windowsAt(t0))
	if !strings.HasPrefix(keys[0], DefaultPrefix+"{k:k}:") {
		t.Fatalf("key without a customer %q", keys[0])
	}
}

// TestRedisScriptFlushed checks the EVAL fallback when Redis has forgotten
// the scripts (a restart or SCRIPT FLUSH).
func TestRedisScriptFlushed(t *testing.T) {
	c := testRedis(t)
	l := NewRedis(c, Options{Prefix: testPrefix(t, c), Now: (&fakeClock{t: t0}).Now})
	ctx := context.Background()
	for range 2 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		d, r, err := l.Reserve(ctx, req(Policy{TPM: 100}, 10, 0))
		if err != nil || !d.Allowed {
			t.Fatalf("Reserve after SCRIPT FLUSH: %+v, %v", d, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(ctx, r, 5, 0); err != nil {
			t.Fatalf("Settle after SCRIPT FLUSH: %v", err)
		}
	}
}

// TestRedisRefusedFirstRequestTTL checks that a window opened by a refused
// request (counted, then taken back) still expires, and keeps the TTL it
// got when a later request counts in it.
func TestRedisRefusedFirstRequestTTL(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	l := NewRedis(c, Options{Prefix: prefix, Now: (&fakeClock{t: t0}).Now})
	ctx := context.Background()
	p := Policy{RPM: 5, TPD: 100, BudgetMicros: 1}
	if _, r, err := l.Reserve(ctx, req(p, 1, 1_000_000)); err != nil || r == nil {
		t.Fatalf("first reserve: %v, %v", r, err)
	}
	// k2 is a new key of the same customer: fresh windows, spent budget.
	k2 := Request{KeyID: "k2", CustomerID: "c1", Policy: p, Tokens: 1, CostPicos: 1}
	d, _, err := l.Reserve(ctx, k2)
	if err != nil || d.Allowed {
		t.Fatalf("k2 reserve: %+v, %v", d, err)
	}
	for _, key := range l.keys(k2, windowsAt(t0))[:2] {
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("%s after a refused first request: TTL %v, %v", key, ttl, err)
		}
		if v, _ := c.HGetAll(ctx, key).Result(); v["r"] != "0" || v["t"] != "" && v["t"] != "0" {
			t.Errorf("%s after a refused first request: %v, want nothing counted", key, v)
		}
	}
}

// TestRedisSettleDoesNotRecreate checks that settling into a window whose
// key has expired does not create a key without a TTL.
func TestRedisSettleDoesNotRecreate(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	l := NewRedis(c, Options{Prefix: prefix, Now: (&fakeClock{t: t0}).Now})
	ctx := context.Background()
	_, r, err := l.Reserve(ctx, req(Policy{TPM: 100}, 10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, r.keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Settle(ctx, r, 50, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, r.keys[0]).Result(); n != 0 {
		t.Fatal("Settle re-created an expired window")
	}
}

func TestRedisError(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	l := NewRedis(c, Options{})
	if _, _, err := l.Reserve(context.Background(), req(Policy{RPM: 1}, 0, 0)); err == nil || !strings.HasPrefix(err.Error(), "limits: reserve: ") {
		t.Fatalf("Reserve with Redis down: %v", err)
	}
	// Unlimited requests never reach Redis.
	if d, _, err := l.Reserve(context.Background(), req(Policy{}, 0, 0)); err != nil || !d.Allowed {
		t.Fatalf("unlimited Reserve with Redis down: %+v, %v", d, err)
	}
}

// TestRedisBatchedSettle settles many reservations through the batching
// loop, including after a script flush, and checks that the windows end up
// exactly where synchronous settling would leave them.
func TestRedisBatchedSettle(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	clock := &fakeClock{t: t0}
	l := NewRedis(c, Options{Prefix: prefix, Now: clock.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for {
		l.batchMu.RLock()
		on := l.batching
		l.batchMu.RUnlock()
		if on {
			break
		}
		time.Sleep(time.Millisecond)
	}
	policy := Policy{TPM: 1_000_000, TPD: 1_000_000_000}
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, r, err := l.Reserve(context.Background(), req(policy, 100, 0))
			if err != nil {
				t.Error(err)
				return
			}
			if i == n/2 {
				_ = c.ScriptFlush(context.Background()).Err() // NOSCRIPT mid-run
			}
			if err := l.Settle(context.Background(), r, 40, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cancel() // Run flushes what is queued before it returns
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Every reservation of 100 became 40: the minute window holds n*40.
	dec, r, err := l.Reserve(context.Background(), req(policy, 1, 0))
	if err != nil || !dec.Allowed {
		t.Fatal(dec, err)
	}
	if got := dec.Headers.RemainingTokens; got != policy.TPM-n*40-1 {
		t.Errorf("remaining tokens %d, want %d", got, policy.TPM-n*40-1)
	}
	_ = l.Release(context.Background(), r)
}

// TestRedisPipelinedReserve admits exactly the limit when reserves go
// through the pipelining workers, across a script-cache flush.
func TestRedisPipelinedReserve(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	l := NewRedis(c, Options{Prefix: prefix, Now: (&fakeClock{t: t0}).Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for {
		l.batchMu.RLock()
		on := l.batching
		l.batchMu.RUnlock()
		if on {
			break
		}
		time.Sleep(time.Millisecond)
	}
	policy := Policy{RPM: 50, TPM: 1_000_000}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 100 {
				_ = c.ScriptFlush(context.Background()).Err()
			}
			dec, r, err := l.Reserve(context.Background(), req(policy, 10, 0))
			if err != nil {
				t.Error(err)
				return
			}
			if dec.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
				_ = l.Settle(context.Background(), r, 5, 0)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if allowed != 50 {
		t.Fatalf("%d of 200 admitted, want exactly 50", allowed)
	}
	// Every admitted reservation of 10 tokens settled to 5.
	dec, _, err := l.Reserve(context.Background(), req(Policy{RPM: 1000, TPM: 1_000_000}, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := dec.Headers.RemainingTokens; got != 1_000_000-50*5-1 {
		t.Errorf("remaining tokens %d, want %d", got, 1_000_000-50*5-1)
	}
}
