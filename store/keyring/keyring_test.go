package keyring

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// fakeSource is an in-memory store for the keyring.
type fakeSource struct {
	mu        sync.Mutex
	keys      []store.Key
	tiers     []store.Tier
	customers []store.Customer
	fail      bool
}

func (f *fakeSource) KeysChangedSince(_ context.Context, since time.Time) ([]store.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("db down")
	}
	var out []store.Key
	for _, k := range f.keys {
		if k.UpdatedAt.After(since) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeSource) ListTiers(context.Context) ([]store.Tier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Tier(nil), f.tiers...), nil
}

func (f *fakeSource) ListCustomers(context.Context) ([]store.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Customer(nil), f.customers...), nil
}

func (f *fakeSource) addKey(t *testing.T, id, customer, tier string, models []string) string {
	t.Helper()
	plain, hash, prefix, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, store.Key{ID: id, Hash: hash, Prefix: prefix, CustomerID: customer, Tier: tier, Models: models, UpdatedAt: time.Now()})
	return plain
}

func (f *fakeSource) revoke(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].ID == id {
			now := time.Now()
			f.keys[i].RevokedAt, f.keys[i].UpdatedAt = &now, now
		}
	}
}

func newSource() *fakeSource {
	return &fakeSource{
		tiers:     []store.Tier{{Name: "free", RPM: 10}, {Name: "pro", RPM: 600, Models: []string{"a", "b"}}},
		customers: []store.Customer{{ID: "cus_1", Name: "Acme", Tier: "free"}, {ID: "cus_2", Name: "Globex", Tier: "pro"}},
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, hash, prefix, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(key, "tg-") || len(key) != 3+randomChars || prefix != key[:8] || hash != Hash(key) || seen[key] {
			t.Fatalf("key %q prefix %q", key, prefix)
		}
		seen[key] = true
	}
}

func TestLookup(t *testing.T) {
	src := newSource()
	free := src.addKey(t, "key_1", "cus_1", "", nil)
	pro := src.addKey(t, "key_2", "cus_2", "", []string{"b", "c"})
	override := src.addKey(t, "key_3", "cus_1", "pro", nil)
	orphan := src.addKey(t, "key_4", "cus_gone", "", nil)
	k := New(src, Options{})
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := k.Lookup(free)
	if err != nil || p.KeyID != "key_1" || p.CustomerName != "Acme" || p.Tier.RPM != 10 || !p.Allows("anything") {
		t.Errorf("free: %+v %v", p, err)
	}
	p, _ = k.Lookup(pro)
	if p.Allows("a") || !p.Allows("b") || p.Allows("c") {
		t.Errorf("pro models %v: key and tier lists intersect", p.Models)
	}
	p, _ = k.Lookup(override)
	if p.Tier.Name != "pro" || p.CustomerID != "cus_1" {
		t.Errorf("override: %+v", p)
	}
	if _, err := k.Lookup(orphan); !errors.Is(err, ErrUnknown) {
		t.Errorf("orphan: %v", err)
	}
	if _, err := k.Lookup("tg-nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	src := newSource()
	plain := src.addKey(t, "key_1", "cus_1", "", nil)
	exp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src.keys[0].ExpiresAt = &exp
	now := exp.Add(-time.Second)
	k := New(src, Options{Now: func() time.Time { return now }})
	_ = k.Refresh(context.Background())
	if _, err := k.Lookup(plain); err != nil {
		t.Fatal(err)
	}
	now = exp
	if _, err := k.Lookup(plain); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v", err)
	}
}

func TestRevocationPropagatesWithinOnePoll(t *testing.T) {
	src := newSource()
	plain := src.addKey(t, "key_1", "cus_1", "", nil)
	k := New(src, Options{KeyInterval: 20 * time.Millisecond})
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	// A key created elsewhere becomes usable, and a revocation elsewhere
	// is refused, within a poll or two.
	later := src.addKey(t, "key_2", "cus_2", "", nil)
	src.revoke("key_1")
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		_, errOld := k.Lookup(plain)
		_, errNew := k.Lookup(later)
		if errors.Is(errOld, ErrRevoked) && errNew == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("revocation or new key not seen within 1s")
}

func TestServesLastSnapshotWhenStoreFails(t *testing.T) {
	src := newSource()
	plain := src.addKey(t, "key_1", "cus_1", "", nil)
	k := New(src, Options{KeyInterval: 10 * time.Millisecond})
	_ = k.Refresh(context.Background())
	src.fail = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = k.Run(ctx)
	if _, err := k.Lookup(plain); err != nil {
		t.Errorf("lookup during outage: %v", err)
	}
}

func TestPutAndConcurrentLookups(t *testing.T) {
	src := newSource()
	k := New(src, Options{})
	_ = k.Refresh(context.Background())
	plain, hash, prefix, _ := Generate()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				_, _ = k.Lookup(plain)
			}
		}()
	}
	if err := k.Put(context.Background(), store.Key{ID: "key_9", Hash: hash, Prefix: prefix, CustomerID: "cus_1", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if p, err := k.Lookup(plain); err != nil || p.KeyID != "key_9" {
		t.Errorf("after Put: %+v %v", p, err)
	}
	k.Invalidate()
	k.Invalidate() // never blocks
}

// TestPutNewCustomer puts a key of a customer created after the last
// reload (its reload only scheduled): the key must work at once.
func TestPutNewCustomer(t *testing.T) {
	src := newSource()
	k := New(src, Options{})
	_ = k.Refresh(context.Background())
	src.mu.Lock()
	src.customers = append(src.customers, store.Customer{ID: "cus_new", Tier: src.tiers[0].Name})
	src.mu.Unlock()
	k.Invalidate() // what the admin API does; nobody runs the reload here
	plain, hash, prefix, _ := Generate()
	if err := k.Put(context.Background(), store.Key{ID: "key_new", Hash: hash, Prefix: prefix, CustomerID: "cus_new", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if p, err := k.Lookup(plain); err != nil || p.CustomerID != "cus_new" {
		t.Errorf("key of a new customer right after Put: %+v %v", p, err)
	}
}

func BenchmarkLookup(b *testing.B) {
	src := &fakeSource{tiers: []store.Tier{{Name: "free"}}, customers: []store.Customer{{ID: "c", Tier: "free"}}}
	var plain string
	for i := range 10000 {
		key, hash, prefix, _ := Generate()
		src.keys = append(src.keys, store.Key{ID: "k" + string(rune(i)), Hash: hash, Prefix: prefix, CustomerID: "c", UpdatedAt: time.Now()})
		plain = key
	}
	k := New(src, Options{})
	_ = k.Refresh(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Lookup(plain); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyOfNewCustomerReloadsAtOnce(t *testing.T) {
	src := newSource()
	k := New(src, Options{KeyInterval: 10 * time.Millisecond, ReloadInterval: time.Hour})
	_ = k.Refresh(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	src.mu.Lock()
	src.customers = append(src.customers, store.Customer{ID: "cus_new", Name: "New", Tier: "pro"})
	src.mu.Unlock()
	plain := src.addKey(t, "key_new", "cus_new", "", nil)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if p, err := k.Lookup(plain); err == nil && p.CustomerName == "New" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("a key of a customer created elsewhere was not usable within 1s")
}
