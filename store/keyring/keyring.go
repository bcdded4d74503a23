// Package keyring makes and resolves client API keys. Keys are "tg-"
// followed by 43 base62 characters (256 random bits); only their SHA-256
// is stored. On the hot path a key is resolved from an in-process map
// (one hash and one lookup, no lock, no database query); the map is
// refreshed by polling the store for keys changed since the last poll, so
// a key revoked on any replica is refused by every replica within one poll
// interval (250 ms by default) plus the query's time. Tiers and customers,
// changed rarely, are reloaded on a slower interval and at once after a
// local admin change.
package keyring

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// KeyPrefix starts every client key.
const KeyPrefix = "tg-"

// keyChars is the base62 alphabet of the random part.
const keyChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomChars encode 256 bits in base62 (62^43 > 2^256).
const randomChars = 43

// Generate returns a new client key, its SHA-256 and its display prefix
// (the first 8 characters).
func Generate() (key string, hash [32]byte, prefix string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", hash, "", fmt.Errorf("keyring: random: %w", err)
	}
	n := new(big.Int).SetBytes(raw[:])
	base := big.NewInt(int64(len(keyChars)))
	digits := make([]byte, randomChars)
	mod := new(big.Int)
	for i := randomChars - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		digits[i] = keyChars[mod.Int64()]
	}
	key = KeyPrefix + string(digits)
	return key, Hash(key), key[:8], nil
}

// Hash is the stored form of a key.
func Hash(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// Principal is who a valid key speaks for, with its effective limits.
type Principal struct {
	KeyID        string
	KeyPrefix    string
	CustomerID   string
	CustomerName string
	// Tier is the key's own tier, else its customer's.
	Tier store.Tier
	// Models are the allowed public models: the key's list, else the
	// tier's; both set means only models in both. Empty means all.
	Models    []string
	ExpiresAt *time.Time
}

// Allows reports whether the principal may use model.
func (p *Principal) Allows(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}

// Errors of Lookup.
var (
	ErrUnknown = errors.New("keyring: unknown key")
	ErrRevoked = errors.New("keyring: key revoked")
	ErrExpired = errors.New("keyring: key expired")
)

// Source is what the keyring reads from the store.
type Source interface {
	KeysChangedSince(ctx context.Context, since time.Time) ([]store.Key, error)
	ListTiers(ctx context.Context) ([]store.Tier, error)
	ListCustomers(ctx context.Context) ([]store.Customer, error)
}

// Options tune a Keyring.
type Options struct {
	// KeyInterval is how often changed keys are polled; default 250ms.
	KeyInterval time.Duration
	// ReloadInterval is how often tiers and customers are reloaded;
	// default 5s.
	ReloadInterval time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// entry is a cached key with its resolved principal.
type entry struct {
	key       store.Key
	principal *Principal
}

// snapshot is an immutable view, swapped whole on refresh.
type snapshot struct {
	byHash map[[32]byte]*entry
}

// Keyring resolves keys. It is safe for concurrent use; Lookup never
// blocks on the database.
type Keyring struct {
	src  Source
	opts Options
	snap atomic.Pointer[snapshot]

	mu        sync.Mutex           // guards everything below (refreshes)
	keys      map[string]store.Key // by id
	tiers     map[string]store.Tier
	customers map[string]store.Customer
	since     time.Time
	reload    chan struct{}
}

// New returns an empty keyring; call Refresh (or Run) before use.
func New(src Source, o Options) *Keyring {
	if o.KeyInterval <= 0 {
		o.KeyInterval = 250 * time.Millisecond
	}
	if o.ReloadInterval <= 0 {
		o.ReloadInterval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	k := &Keyring{src: src, opts: o, keys: map[string]store.Key{}, reload: make(chan struct{}, 1)}
	k.snap.Store(&snapshot{byHash: map[[32]byte]*entry{}})
	return k
}

// Lookup resolves a plaintext key.
func (k *Keyring) Lookup(key string) (*Principal, error) {
	e, ok := k.snap.Load().byHash[Hash(key)]
	if !ok {
		return nil, ErrUnknown
	}
	if e.key.RevokedAt != nil {
		return nil, ErrRevoked
	}
	if e.key.ExpiresAt != nil && !k.opts.Now().Before(*e.key.ExpiresAt) {
		return nil, ErrExpired
	}
	if e.principal == nil {
		// Its customer or tier is gone: the key cannot be billed.
		return nil, ErrUnknown
	}
	return e.principal, nil
}

// Refresh reloads tiers and customers and fetches every key changed since
// the last refresh. The first call loads everything.
func (k *Keyring) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(ctx); err != nil {
		return err
	}
	return k.pollLocked(ctx)
}

// Invalidate asks for a reload of tiers and customers at the next poll,
// after a local admin change.
func (k *Keyring) Invalidate() {
	select {
	case k.reload <- struct{}{}:
	default:
	}
}

// Put records a key this replica just created or revoked, so that it takes
// effect here at once rather than at the next poll. When the key's
// customer or tier is not loaded yet (a customer created a moment ago,
// whose reload Invalidate only scheduled), it reloads them first, so that
// the key works as soon as its creation is answered; if that reload fails
// the key is still recorded, and resolves at the next successful poll.
func (k *Keyring) Put(ctx context.Context, key store.Key) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.ID] = key
	if !k.knowsLocked(key) {
		if err := k.reloadLocked(ctx); err != nil {
			k.publishLocked()
			return err
		}
		return nil // reloadLocked published
	}
	k.publishLocked()
	return nil
}

// Run polls until ctx is done. Errors are logged and retried at the next
// interval: the last good snapshot keeps serving.
func (k *Keyring) Run(ctx context.Context) error {
	keyTick := time.NewTicker(k.opts.KeyInterval)
	defer keyTick.Stop()
	reloadTick := time.NewTicker(k.opts.ReloadInterval)
	defer reloadTick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-keyTick.C:
			err = k.locked(func() error { return k.pollLocked(ctx) })
		case <-reloadTick.C:
			err = k.locked(func() error { return k.reloadLocked(ctx) })
		case <-k.reload:
			err = k.locked(func() error { return k.reloadLocked(ctx) })
		}
		if err != nil && ctx.Err() == nil {
			k.opts.Logger.Warn("keyring refresh failed; serving the last snapshot", "error", err)
		}
	}
}

func (k *Keyring) locked(f func() error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return f()
}

// reloadLocked reloads tiers and customers and republishes.
func (k *Keyring) reloadLocked(ctx context.Context) error {
	tiers, err := k.src.ListTiers(ctx)
	if err != nil {
		return fmt.Errorf("keyring: list tiers: %w", err)
	}
	customers, err := k.src.ListCustomers(ctx)
	if err != nil {
		return fmt.Errorf("keyring: list customers: %w", err)
	}
	k.tiers = make(map[string]store.Tier, len(tiers))
	for _, t := range tiers {
		k.tiers[t.Name] = t
	}
	k.customers = make(map[string]store.Customer, len(customers))
	for _, c := range customers {
		k.customers[c.ID] = c
	}
	k.publishLocked()
	return nil
}

// pollLocked fetches keys changed since the last poll and republishes.
func (k *Keyring) pollLocked(ctx context.Context) error {
	changed, err := k.src.KeysChangedSince(ctx, k.since)
	if err != nil {
		return fmt.Errorf("keyring: poll keys: %w", err)
	}
	if len(changed) == 0 {
		return nil
	}
	stale := false
	for _, key := range changed {
		k.keys[key.ID] = key
		if key.UpdatedAt.After(k.since) {
			k.since = key.UpdatedAt
		}
		if !k.knowsLocked(key) {
			stale = true
		}
	}
	// Rows committed with an UpdatedAt at or just before the newest one we
	// saw could still appear (clock skew between replicas, commit order):
	// poll again from slightly earlier next time. Re-reading a key is
	// harmless.
	k.since = k.since.Add(-2 * time.Second)
	if stale {
		// A key of a customer (or tier) made on another replica since the
		// last reload: reload now rather than refuse it until the next one.
		return k.reloadLocked(ctx)
	}
	k.publishLocked()
	return nil
}

// knowsLocked reports whether the key's customer and tier are loaded.
func (k *Keyring) knowsLocked(key store.Key) bool {
	c, ok := k.customers[key.CustomerID]
	if !ok {
		return false
	}
	tier := key.Tier
	if tier == "" {
		tier = c.Tier
	}
	_, ok = k.tiers[tier]
	return ok
}

// publishLocked builds and swaps in a new snapshot.
func (k *Keyring) publishLocked() {
	byHash := make(map[[32]byte]*entry, len(k.keys))
	for _, key := range k.keys {
		byHash[key.Hash] = &entry{key: key, principal: k.resolveLocked(key)}
	}
	k.snap.Store(&snapshot{byHash: byHash})
}

// resolveLocked computes a key's principal; nil when its customer or tier
// is unknown.
func (k *Keyring) resolveLocked(key store.Key) *Principal {
	c, ok := k.customers[key.CustomerID]
	if !ok {
		return nil
	}
	tierName := key.Tier
	if tierName == "" {
		tierName = c.Tier
	}
	t, ok := k.tiers[tierName]
	if !ok {
		return nil
	}
	return &Principal{
		KeyID: key.ID, KeyPrefix: key.Prefix, CustomerID: c.ID, CustomerName: c.Name,
		Tier: t, Models: effectiveModels(key.Models, t.Models), ExpiresAt: key.ExpiresAt,
	}
}

// effectiveModels intersects the key's and the tier's model lists (empty
// means all).
func effectiveModels(keyModels, tierModels []string) []string {
	switch {
	case len(keyModels) == 0:
		return tierModels
	case len(tierModels) == 0:
		return keyModels
	}
	var out []string
	for _, m := range keyModels {
		if slices.Contains(tierModels, m) {
			out = append(out, m)
		}
	}
	if out == nil {
		out = []string{} // nothing allowed, not everything
	}
	return out
}
