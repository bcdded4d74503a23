package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-gw/tollgate/provider"
)

// storeHarness is one Store under test with a way to let time pass.
type storeHarness struct {
	store Store
	// advance lets d pass for TTL purposes.
	advance func(d time.Duration)
	// unit is the smallest TTL the store measures reliably.
	unit time.Duration
}

func testEntry(model, body string) *Entry {
	return &Entry{
		Body: []byte(body), Model: "gpt-4o-mini", Provider: "openai", PublicModel: model,
		Usage:     provider.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, CachedTokens: 2, ReasoningTokens: 1, Estimated: true},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

// runStoreSuite is the conformance suite every Store passes.
func runStoreSuite(t *testing.T, newStore func(t *testing.T) storeHarness) {
	ctx := context.Background()
	t.Run("MissHitOverwrite", func(t *testing.T) {
		h := newStore(t)
		if _, ok, err := h.store.Get(ctx, "k1"); ok || err != nil {
			t.Fatalf("empty store: ok %v err %v", ok, err)
		}
		want := testEntry("chat", `{"id":"a"}`)
		if err := h.store.Set(ctx, "k1", want, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, ok, err := h.store.Get(ctx, "k1")
		if !ok || err != nil {
			t.Fatalf("after Set: ok %v err %v", ok, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("entry (-want +got):\n%s", diff)
		}
		next := testEntry("chat", `{"id":"b"}`)
		next.CreatedAt = time.Time{}
		if err := h.store.Set(ctx, "k1", next, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, _, _ = h.store.Get(ctx, "k1")
		if diff := cmp.Diff(next, got); diff != "" {
			t.Errorf("overwritten entry (-want +got):\n%s", diff)
		}
		if err := h.store.Set(ctx, "k1", next, 0); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := h.store.Get(ctx, "k1"); ok {
			t.Error("Set with TTL 0 left the entry")
		}
	})
	t.Run("TTL", func(t *testing.T) {
		h := newStore(t)
		if err := h.store.Set(ctx, "short", testEntry("chat", `{}`), 2*h.unit); err != nil {
			t.Fatal(err)
		}
		if err := h.store.Set(ctx, "long", testEntry("chat", `{}`), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := h.store.Get(ctx, "short"); !ok {
			t.Fatal("entry gone before its TTL")
		}
		h.advance(4 * h.unit)
		if _, ok, _ := h.store.Get(ctx, "short"); ok {
			t.Error("entry outlived its TTL")
		}
		if _, ok, _ := h.store.Get(ctx, "long"); !ok {
			t.Error("long-lived entry gone")
		}
	})
	t.Run("Purge", func(t *testing.T) {
		h := newStore(t)
		for i := range 3 {
			if err := h.store.Set(ctx, fmt.Sprint("a", i), testEntry("model-a", `{}`), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := h.store.Set(ctx, fmt.Sprint("b", i), testEntry("model-b", `{}`), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.store.Set(ctx, "c0", testEntry("model-c", `{}`), time.Hour); err != nil {
			t.Fatal(err)
		}
		n, err := h.store.Purge(ctx, "model-a")
		if err != nil || n != 3 {
			t.Fatalf("Purge(model-a) = %d, %v; want 3", n, err)
		}
		if _, ok, _ := h.store.Get(ctx, "a1"); ok {
			t.Error("purged entry still there")
		}
		if _, ok, _ := h.store.Get(ctx, "b1"); !ok {
			t.Error("other model's entry purged")
		}
		if n, err := h.store.Purge(ctx, "model-a"); err != nil || n != 0 {
			t.Errorf("second Purge(model-a) = %d, %v", n, err)
		}
		if n, err := h.store.Purge(ctx, "no-such-model"); err != nil || n != 0 {
			t.Errorf("Purge(unknown) = %d, %v", n, err)
		}
		if n, err := h.store.Purge(ctx, ""); err != nil || n != 3 {
			t.Errorf("Purge(all) = %d, %v; want 3", n, err)
		}
		if _, ok, _ := h.store.Get(ctx, "c0"); ok {
			t.Error("Purge(all) left an entry")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		h := newStore(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 20 {
					k := fmt.Sprint("k", (i+j)%5)
					if err := h.store.Set(ctx, k, testEntry("m", `{}`), time.Hour); err != nil {
						t.Error(err)
					}
					if _, _, err := h.store.Get(ctx, k); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	})
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemoryStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) storeHarness {
		m := NewMemory(1 << 20)
		clk := &fakeClock{t: time.Unix(1e9, 0)}
		m.SetClock(clk.now)
		return storeHarness{store: m, advance: clk.advance, unit: time.Second}
	})
}

func TestMemoryEviction(t *testing.T) {
	ctx := context.Background()
	e := testEntry("m", string(make([]byte, 1000)))
	per := e.size() + 2 // key length
	m := NewMemory(3 * per)
	for _, k := range []string{"k1", "k2", "k3"} {
		if err := m.Set(ctx, k, e, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := m.Get(ctx, "k1"); !ok { // k1 becomes most recently used
		t.Fatal("k1 missing before eviction")
	}
	if err := m.Set(ctx, "k4", e, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "k2"); ok {
		t.Error("least recently used entry k2 not evicted")
	}
	for _, k := range []string{"k1", "k3", "k4"} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	if m.Len() != 3 {
		t.Errorf("Len %d, want 3", m.Len())
	}
	big := testEntry("m", string(make([]byte, 4*per)))
	if err := m.Set(ctx, "big", big, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "big"); ok || m.Len() != 3 {
		t.Error("an entry larger than the whole store was stored or evicted others")
	}
	if n, _ := m.Purge(ctx, "m"); n != 3 || m.Len() != 0 || m.bytes != 0 {
		t.Errorf("purge %d, len %d, bytes %d", n, m.Len(), m.bytes)
	}
}

// testRedis connects to TOLLGATE_TEST_REDIS_URL (scripts/test.sh sets it).
// Without it the test is skipped, or fails when CI=true.
func testRedis(t *testing.T) *redis.Client {
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
func testPrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "tg:cache:test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err := iter.Err()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("clean up %s*: %v", prefix, err)
		}
	})
	return prefix
}

func TestRedisStore(t *testing.T) {
	c := testRedis(t)
	runStoreSuite(t, func(t *testing.T) storeHarness {
		return storeHarness{
			store:   NewRedis(c, testPrefix(t, c)),
			advance: func(d time.Duration) { time.Sleep(d) },
			unit:    100 * time.Millisecond,
		}
	})
}

func TestRedisBadValue(t *testing.T) {
	c := testRedis(t)
	prefix := testPrefix(t, c)
	ctx := context.Background()
	if err := c.Set(ctx, prefix+"e:bad", "no header", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := NewRedis(c, prefix).Get(ctx, "bad"); ok || err == nil {
		t.Errorf("corrupt value: ok %v err %v", ok, err)
	}
}

func TestEntryEncoding(t *testing.T) {
	for _, e := range []*Entry{testEntry("m", `{"a":"b\nc"}`), {Body: []byte{}}, {Body: []byte("x\ny\n"), PublicModel: "p\nq"}} {
		b, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}
