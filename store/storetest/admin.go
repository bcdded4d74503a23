package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// defaultTiers are the tiers the issue asks for on first start.
func defaultTiers() map[string]store.Tier {
	return map[string]store.Tier{
		"free":       {Name: "free", RPM: 10, RPD: 100, TPD: 100_000},
		"pro":        {Name: "pro", RPM: 600, RPD: 10_000, TPD: 10_000_000},
		"enterprise": {Name: "enterprise"},
	}
}

func testDefaultTiers(t *testing.T, s store.Store) {
	tiers, err := s.ListTiers(ctx(t))
	must(t, "ListTiers", err)
	want := defaultTiers()
	if len(tiers) != len(want) {
		t.Fatalf("ListTiers after Migrate = %d tiers, want %d: %+v", len(tiers), len(want), tiers)
	}
	for _, got := range tiers {
		w, ok := want[got.Name]
		if !ok {
			t.Errorf("unexpected tier %q", got.Name)
			continue
		}
		if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
			t.Errorf("tier %s has zero times: %+v", got.Name, got)
		}
		got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
		if d := diff(w, got); d != "" {
			t.Errorf("tier %s (-want +got):\n%s", got.Name, d)
		}
	}
}

func testMigrateTwice(t *testing.T, s store.Store) {
	pro, err := s.GetTier(ctx(t), "pro")
	must(t, "GetTier pro", err)
	pro.RPM = 1234
	must(t, "UpdateTier pro", s.UpdateTier(ctx(t), pro))
	must(t, "DeleteTier enterprise", s.DeleteTier(ctx(t), "enterprise"))
	before, err := s.ListTiers(ctx(t))
	must(t, "ListTiers", err)
	must(t, "second Migrate", s.Migrate(ctx(t)))
	must(t, "third Migrate", s.Migrate(ctx(t)))
	after, err := s.ListTiers(ctx(t))
	must(t, "ListTiers", err)
	if d := diff(before, after); d != "" {
		t.Errorf("Migrate again changed the tiers (-before +after):\n%s", d)
	}
}

func testTiers(t *testing.T, s store.Store) {
	start := time.Now().Add(-time.Second)
	tier := &store.Tier{Name: "gold", RPM: 1, RPD: 2, TPM: 3, TPD: 4, MonthlyBudgetMicros: 5_000_000,
		Models: []string{"gpt-4o", "mock/echo"}}
	must(t, "CreateTier", s.CreateTier(ctx(t), tier))
	if tier.CreatedAt.Before(start) || !tier.UpdatedAt.Equal(tier.CreatedAt) {
		t.Errorf("CreateTier times: created %v updated %v", tier.CreatedAt, tier.UpdatedAt)
	}
	wantErr(t, "CreateTier duplicate", s.CreateTier(ctx(t), &store.Tier{Name: "gold"}), store.ErrConflict)
	wantErr(t, "CreateTier duplicate default", s.CreateTier(ctx(t), &store.Tier{Name: "free"}), store.ErrConflict)

	got, err := s.GetTier(ctx(t), "gold")
	must(t, "GetTier", err)
	if d := diff(tier, got); d != "" {
		t.Errorf("GetTier (-want +got):\n%s", d)
	}
	_, err = s.GetTier(ctx(t), "nope")
	wantErr(t, "GetTier missing", err, store.ErrNotFound)

	upd := *got
	upd.RPM, upd.Models = 100, nil
	must(t, "UpdateTier", s.UpdateTier(ctx(t), &upd))
	if !upd.UpdatedAt.After(got.UpdatedAt) || !upd.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdateTier times: before %+v after %+v", got, upd)
	}
	got2, err := s.GetTier(ctx(t), "gold")
	must(t, "GetTier", err)
	if d := diff(&upd, got2); d != "" {
		t.Errorf("GetTier after update (-want +got):\n%s", d)
	}
	wantErr(t, "UpdateTier missing", s.UpdateTier(ctx(t), &store.Tier{Name: "nope"}), store.ErrNotFound)

	tiers, err := s.ListTiers(ctx(t))
	must(t, "ListTiers", err)
	var names []string
	for _, x := range tiers {
		names = append(names, x.Name)
	}
	if d := diff([]string{"enterprise", "free", "gold", "pro"}, names); d != "" {
		t.Errorf("ListTiers names, by name (-want +got):\n%s", d)
	}

	must(t, "DeleteTier", s.DeleteTier(ctx(t), "gold"))
	wantErr(t, "DeleteTier again", s.DeleteTier(ctx(t), "gold"), store.ErrNotFound)
	_, err = s.GetTier(ctx(t), "gold")
	wantErr(t, "GetTier deleted", err, store.ErrNotFound)
}

func testTierInUse(t *testing.T, s store.Store) {
	must(t, "CreateTier a", s.CreateTier(ctx(t), &store.Tier{Name: "a"}))
	must(t, "CreateTier b", s.CreateTier(ctx(t), &store.Tier{Name: "b"}))
	c := newCustomer(t, s, "acme", "a")
	wantErr(t, "DeleteTier used by a customer", s.DeleteTier(ctx(t), "a"), store.ErrConflict)

	k := &store.Key{Hash: hash("tg-in-use"), Prefix: "tg-in-us", CustomerID: c.ID, Tier: "b"}
	must(t, "CreateKey with tier", s.CreateKey(ctx(t), k))
	wantErr(t, "DeleteTier used by a key", s.DeleteTier(ctx(t), "b"), store.ErrConflict)
	if _, err := s.GetTier(ctx(t), "b"); err != nil {
		t.Errorf("tier b gone after a refused delete: %v", err)
	}
}

func testCustomers(t *testing.T, s store.Store) {
	c := &store.Customer{Name: "Acme", Tier: "free", ExternalID: "crm-1"}
	must(t, "CreateCustomer", s.CreateCustomer(ctx(t), c))
	if c.ID == "" || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreateCustomer did not fill ID and times: %+v", c)
	}
	named := &store.Customer{ID: "cust-explicit", Name: "Beta", Tier: "pro"}
	must(t, "CreateCustomer with ID", s.CreateCustomer(ctx(t), named))
	if named.ID != "cust-explicit" {
		t.Errorf("CreateCustomer replaced the given ID with %q", named.ID)
	}
	wantErr(t, "CreateCustomer duplicate ID",
		s.CreateCustomer(ctx(t), &store.Customer{ID: "cust-explicit", Name: "x", Tier: "free"}), store.ErrConflict)
	wantErr(t, "CreateCustomer duplicate external ID",
		s.CreateCustomer(ctx(t), &store.Customer{Name: "x", Tier: "free", ExternalID: "crm-1"}), store.ErrConflict)
	wantErr(t, "CreateCustomer unknown tier",
		s.CreateCustomer(ctx(t), &store.Customer{Name: "x", Tier: "platinum"}), store.ErrConflict)
	// Empty external IDs do not collide.
	newCustomer(t, s, "no-ext-1", "free")
	newCustomer(t, s, "no-ext-2", "free")

	got, err := s.GetCustomer(ctx(t), c.ID)
	must(t, "GetCustomer", err)
	if d := diff(c, got); d != "" {
		t.Errorf("GetCustomer (-want +got):\n%s", d)
	}
	_, err = s.GetCustomer(ctx(t), "missing")
	wantErr(t, "GetCustomer missing", err, store.ErrNotFound)

	upd := *got
	upd.Name, upd.Tier, upd.ExternalID = "Acme Corp", "pro", ""
	must(t, "UpdateCustomer", s.UpdateCustomer(ctx(t), &upd))
	if !upd.UpdatedAt.After(got.UpdatedAt) || !upd.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdateCustomer times: before %+v after %+v", got, upd)
	}
	got2, err := s.GetCustomer(ctx(t), c.ID)
	must(t, "GetCustomer", err)
	if d := diff(&upd, got2); d != "" {
		t.Errorf("GetCustomer after update (-want +got):\n%s", d)
	}
	bad := upd
	bad.Tier = "platinum"
	wantErr(t, "UpdateCustomer unknown tier", s.UpdateCustomer(ctx(t), &bad), store.ErrConflict)
	wantErr(t, "UpdateCustomer missing",
		s.UpdateCustomer(ctx(t), &store.Customer{ID: "missing", Name: "x", Tier: "free"}), store.ErrNotFound)

	list, err := s.ListCustomers(ctx(t))
	must(t, "ListCustomers", err)
	if len(list) != 4 || list[0].ID != c.ID || list[1].ID != named.ID {
		t.Errorf("ListCustomers = %+v, want 4, oldest first", list)
	}
	must(t, "DeleteCustomer", s.DeleteCustomer(ctx(t), named.ID))
	wantErr(t, "DeleteCustomer again", s.DeleteCustomer(ctx(t), named.ID), store.ErrNotFound)
}

func testCustomerWithKeys(t *testing.T, s store.Store) {
	c := newCustomer(t, s, "acme", "free")
	k := newKey(t, s, c.ID, "tg-customer-with-keys")
	wantErr(t, "DeleteCustomer with a key", s.DeleteCustomer(ctx(t), c.ID), store.ErrConflict)
	must(t, "RevokeKey", s.RevokeKey(ctx(t), k.ID, time.Now()))
	wantErr(t, "DeleteCustomer with a revoked key", s.DeleteCustomer(ctx(t), c.ID), store.ErrConflict)
	if _, err := s.GetCustomer(ctx(t), c.ID); err != nil {
		t.Errorf("customer gone after a refused delete: %v", err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	c := newCustomer(t, s, "acme", "free")
	other := newCustomer(t, s, "other", "free")
	exp := time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	k := &store.Key{Hash: hash("tg-abcdefgh-1"), Prefix: "tg-abcde", CustomerID: c.ID, Name: "ci",
		Tier: "pro", Models: []string{"mock/echo"}, ExpiresAt: &exp}
	must(t, "CreateKey", s.CreateKey(ctx(t), k))
	if k.ID == "" || k.CreatedAt.IsZero() || !k.UpdatedAt.Equal(k.CreatedAt) {
		t.Errorf("CreateKey did not fill ID and times: %+v", k)
	}
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(micro(exp)) {
		t.Errorf("CreateKey ExpiresAt = %v, want %v (µs)", k.ExpiresAt, micro(exp))
	}
	got, err := s.GetKey(ctx(t), k.ID)
	must(t, "GetKey", err)
	want := *k
	want.ExpiresAt = ptr(micro(exp))
	if d := diff(&want, got); d != "" {
		t.Errorf("GetKey (-want +got):\n%s", d)
	}
	_, err = s.GetKey(ctx(t), "missing")
	wantErr(t, "GetKey missing", err, store.ErrNotFound)

	plain := newKey(t, s, c.ID, "tg-plain-key-2")
	theirs := newKey(t, s, other.ID, "tg-their-key-3")
	gotPlain, err := s.GetKey(ctx(t), plain.ID)
	must(t, "GetKey plain", err)
	if gotPlain.Tier != "" || gotPlain.Models != nil || gotPlain.ExpiresAt != nil || gotPlain.RevokedAt != nil {
		t.Errorf("GetKey of a plain key = %+v, want no tier, models, expiry or revocation", gotPlain)
	}

	all, err := s.ListKeys(ctx(t), store.KeyFilter{})
	must(t, "ListKeys", err)
	if ids := keyIDs(all); diff([]string{k.ID, plain.ID, theirs.ID}, ids) != "" {
		t.Errorf("ListKeys = %v, want all three, oldest first", ids)
	}
	mine, err := s.ListKeys(ctx(t), store.KeyFilter{CustomerID: c.ID})
	must(t, "ListKeys by customer", err)
	if ids := keyIDs(mine); diff([]string{k.ID, plain.ID}, ids) != "" {
		t.Errorf("ListKeys by customer = %v", ids)
	}
	none, err := s.ListKeys(ctx(t), store.KeyFilter{CustomerID: "nobody"})
	must(t, "ListKeys unknown customer", err)
	if len(none) != 0 {
		t.Errorf("ListKeys for an unknown customer = %v", keyIDs(none))
	}
}

func keyIDs(keys []store.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func testKeyConflicts(t *testing.T, s store.Store) {
	c := newCustomer(t, s, "acme", "free")
	k := newKey(t, s, c.ID, "tg-unique-hash")
	dupHash := &store.Key{Hash: k.Hash, Prefix: "tg-uniqu", CustomerID: c.ID}
	wantErr(t, "CreateKey duplicate hash", s.CreateKey(ctx(t), dupHash), store.ErrConflict)
	dupID := &store.Key{ID: k.ID, Hash: hash("tg-other"), Prefix: "tg-other", CustomerID: c.ID}
	wantErr(t, "CreateKey duplicate ID", s.CreateKey(ctx(t), dupID), store.ErrConflict)
	noCust := &store.Key{Hash: hash("tg-orphan"), Prefix: "tg-orpha", CustomerID: "nobody"}
	wantErr(t, "CreateKey unknown customer", s.CreateKey(ctx(t), noCust), store.ErrConflict)
	noTier := &store.Key{Hash: hash("tg-no-tier"), Prefix: "tg-no-ti", CustomerID: c.ID, Tier: "platinum"}
	wantErr(t, "CreateKey unknown tier", s.CreateKey(ctx(t), noTier), store.ErrConflict)
	all, err := s.ListKeys(ctx(t), store.KeyFilter{})
	must(t, "ListKeys", err)
	if len(all) != 1 {
		t.Errorf("ListKeys after refused creates = %v, want only %s", keyIDs(all), k.ID)
	}
}

func testRevokeKey(t *testing.T, s store.Store) {
	c := newCustomer(t, s, "acme", "free")
	k := newKey(t, s, c.ID, "tg-revoke-me")
	at := time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, time.UTC)
	must(t, "RevokeKey", s.RevokeKey(ctx(t), k.ID, at))
	got, err := s.GetKey(ctx(t), k.ID)
	must(t, "GetKey", err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(micro(at)) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, micro(at))
	}
	if !got.UpdatedAt.After(k.UpdatedAt) {
		t.Errorf("RevokeKey did not move UpdatedAt: %v then %v", k.UpdatedAt, got.UpdatedAt)
	}
	must(t, "RevokeKey again", s.RevokeKey(ctx(t), k.ID, at.Add(time.Hour)))
	again, err := s.GetKey(ctx(t), k.ID)
	must(t, "GetKey", err)
	if d := diff(got, again); d != "" {
		t.Errorf("second RevokeKey changed the key (-first +second):\n%s", d)
	}
	wantErr(t, "RevokeKey missing", s.RevokeKey(ctx(t), "missing", at), store.ErrNotFound)
}

func testKeysChangedSince(t *testing.T, s store.Store) {
	c := newCustomer(t, s, "acme", "free")
	var keys []*store.Key
	for i := range 5 {
		keys = append(keys, newKey(t, s, c.ID, fmt.Sprintf("tg-changed-%d", i)))
	}
	all, err := s.KeysChangedSince(ctx(t), time.Time{})
	must(t, "KeysChangedSince zero", err)
	if d := diff([]string{keys[0].ID, keys[1].ID, keys[2].ID, keys[3].ID, keys[4].ID}, keyIDs(all)); d != "" {
		t.Errorf("KeysChangedSince(zero) (-want +got):\n%s", d)
	}
	for i := 1; i < len(all); i++ {
		if all[i].UpdatedAt.Before(all[i-1].UpdatedAt) {
			t.Errorf("KeysChangedSince not ordered by UpdatedAt at %d", i)
		}
	}
	// Strictly after: the key stamped exactly at since is not returned.
	after, err := s.KeysChangedSince(ctx(t), keys[2].UpdatedAt)
	must(t, "KeysChangedSince", err)
	var want []string
	for _, k := range all {
		if k.UpdatedAt.After(keys[2].UpdatedAt) {
			want = append(want, k.ID)
		}
	}
	if d := diff(want, keyIDs(after)); d != "" || len(want) > 2 {
		t.Errorf("KeysChangedSince(key 2) (-want +got):\n%s", d)
	}

	// A revocation moves the key to the end of the change list.
	last := all[len(all)-1].UpdatedAt
	must(t, "RevokeKey", s.RevokeKey(ctx(t), keys[0].ID, time.Now()))
	changed, err := s.KeysChangedSince(ctx(t), last)
	must(t, "KeysChangedSince after revoke", err)
	if len(changed) != 1 || changed[0].ID != keys[0].ID || changed[0].RevokedAt == nil {
		t.Errorf("KeysChangedSince after revoking key 0 = %v, want just key 0, revoked", keyIDs(changed))
	}
	none, err := s.KeysChangedSince(ctx(t), changed[0].UpdatedAt)
	must(t, "KeysChangedSince newest", err)
	if len(none) != 0 {
		t.Errorf("KeysChangedSince(newest) = %v, want none", keyIDs(none))
	}
}

func testSettings(t *testing.T, s store.Store) {
	_, err := s.GetSetting(ctx(t), "admin_key_hash")
	wantErr(t, "GetSetting missing", err, store.ErrNotFound)
	ok, err := s.PutSettingIfAbsent(ctx(t), "admin_key_hash", "abc")
	must(t, "PutSettingIfAbsent", err)
	if !ok {
		t.Errorf("first PutSettingIfAbsent = false")
	}
	ok, err = s.PutSettingIfAbsent(ctx(t), "admin_key_hash", "def")
	must(t, "PutSettingIfAbsent again", err)
	if ok {
		t.Errorf("second PutSettingIfAbsent = true")
	}
	v, err := s.GetSetting(ctx(t), "admin_key_hash")
	must(t, "GetSetting", err)
	if v != "abc" {
		t.Errorf("GetSetting = %q, want the first value", v)
	}
}

func testSettingsRace(t *testing.T, s store.Store) {
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	c := ctx(t)
	for i := range n {
		wg.Go(func() {
			val := fmt.Sprintf("value-%d", i)
			ok, err := s.PutSettingIfAbsent(c, "first_start", val)
			if err != nil {
				t.Errorf("PutSettingIfAbsent %d: %v", i, err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, val)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d goroutines won the race (%v), want exactly 1", len(winners), winners)
	}
	v, err := s.GetSetting(ctx(t), "first_start")
	must(t, "GetSetting", err)
	if v != winners[0] {
		t.Errorf("GetSetting = %q, winner stored %q", v, winners[0])
	}
}
