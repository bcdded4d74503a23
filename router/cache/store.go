package cache

import (
	"context"
	"time"
)

// Store keeps cached answers by key. Implementations must be safe for
// concurrent use. A TTL of zero or less means the entry is not stored.
type Store interface {
	// Get returns the entry under key; ok is false when there is none or
	// it expired. The entry must be treated as read-only.
	Get(ctx context.Context, key string) (e *Entry, ok bool, err error)
	// Set stores e under key for ttl, replacing any entry there.
	Set(ctx context.Context, key string, e *Entry, ttl time.Duration) error
	// Purge removes every entry whose PublicModel is model, or every
	// entry when model is "", and returns how many it removed.
	Purge(ctx context.Context, model string) (int, error)
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)
