package storetest

import (
	"context"
	"testing"

	"github.com/tollgate-gw/tollgate/store"
)

// MigrateConcurrently opens replicas stores with open at once, as several
// gateway processes starting together would, and migrates each; every
// Migrate must succeed. The caller then checks, in its dialect, that each
// migration was applied once.
func MigrateConcurrently(t *testing.T, replicas int, open func(ctx context.Context) (store.Store, error)) {
	t.Helper()
	errs := make(chan error, replicas)
	for range replicas {
		go func() {
			s, err := open(t.Context())
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(t.Context())
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
}
