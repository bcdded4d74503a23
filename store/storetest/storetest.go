// Package storetest is the one conformance suite every store.Store
// implementation must pass. An implementation's test calls Run with a
// function that opens a store on a fresh, empty database:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
//
// Times are compared in UTC at the stores' precision, microseconds: finer
// parts of the times a test writes are truncated before comparison.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate-gw/tollgate/store"
)

// Run runs the suite. Each subtest, in parallel with the others, calls
// open for a new store on an empty database (not migrated), migrates it
// and closes it when the subtest ends; open may register cleanups of its
// own (they run after the store is closed).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"DefaultTiers", testDefaultTiers},
		{"MigrateTwice", testMigrateTwice},
		{"Tiers", testTiers},
		{"TierInUse", testTierInUse},
		{"Customers", testCustomers},
		{"CustomerWithKeys", testCustomerWithKeys},
		{"Keys", testKeys},
		{"KeyConflicts", testKeyConflicts},
		{"RevokeKey", testRevokeKey},
		{"KeysChangedSince", testKeysChangedSince},
		{"Settings", testSettings},
		{"SettingsRace", testSettingsRace},
		{"UsageIdempotent", testUsageIdempotent},
		{"UsageQueryMatchesEvents", testUsageQueryMatchesEvents},
		{"UsageQueryValidation", testUsageQueryValidation},
		{"UsageQueryStops", testUsageQueryStops},
		{"UsageCostExact", testUsageCostExact},
		{"UsageOverflowFails", testUsageOverflowFails},
		{"UsageConcurrentInserts", testUsageConcurrentInserts},
		{"SpendSince", testSpendSince},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if err := s.Migrate(ctx(t)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			tc.fn(t, s)
		})
	}
}

// ctx returns a context that ends with the test, bounded to a minute.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", op, err, target)
	}
}

// must fails the test at once on err.
func must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// micro truncates t to the stores' precision, in UTC.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// hash returns the SHA-256 of s, as keys are stored.
func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// diff compares want and got, treating nil and empty slices as equal.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// newCustomer creates a customer on tier with a fresh name.
func newCustomer(t *testing.T, s store.Store, name, tier string) *store.Customer {
	t.Helper()
	c := &store.Customer{Name: name, Tier: tier}
	must(t, "CreateCustomer "+name, s.CreateCustomer(ctx(t), c))
	return c
}

// newKey creates a key for customerID whose plaintext is secret.
func newKey(t *testing.T, s store.Store, customerID, secret string) *store.Key {
	t.Helper()
	k := &store.Key{Hash: hash(secret), Prefix: secret[:min(8, len(secret))], CustomerID: customerID,
		Name: fmt.Sprintf("key %s", secret)}
	must(t, "CreateKey "+secret, s.CreateKey(ctx(t), k))
	return k
}
