// Package store is Tollgate's persistence: tiers, customers, API keys,
// settings and the usage ledger. This package holds the domain types and
// the Store interface; store/postgres (pgx) and store/sqlite (pure Go,
// the embedded default) implement it, and store/storetest is the one
// conformance suite both must pass.
//
// Money is integer: budgets in micro-USD, usage costs in pico-USD. Prices
// are whole micro-USD per million tokens, which is exactly one pico-USD
// per token, so tokens × price is an exact integer cost with no rounding
// per request (a micro-USD cost would round every event, and sums would
// drift). Keys are stored only as SHA-256 hashes.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped) for the same situations.
var (
	// ErrNotFound: no such tier, customer or key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique name or id is taken, or a row still in use is
	// being deleted (a tier with customers, a customer with keys).
	ErrConflict = errors.New("store: conflict")
)

// Tier is a named set of limits. Zero means unlimited; empty Models means
// every model.
type Tier struct {
	Name string
	// RPM and RPD limit requests per minute and per day, per key.
	RPM, RPD int64
	// TPM and TPD limit tokens per minute and per day, per key.
	TPM, TPD int64
	// MonthlyBudgetMicros limits a customer's spend per calendar month
	// (UTC), across its keys, in micro-USD.
	MonthlyBudgetMicros int64
	// Models are the public model names allowed; empty means all.
	Models    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Customer is who is billed.
type Customer struct {
	ID         string
	Name       string
	Tier       string
	ExternalID string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Key is a client API key. The plaintext is never stored: Hash is the
// SHA-256 of the whole key, Prefix its first 8 characters.
type Key struct {
	ID         string
	Hash       [32]byte
	Prefix     string
	CustomerID string
	Name       string
	// Tier overrides the customer's tier for this key when set.
	Tier string
	// Models restricts the key further; empty means the tier's.
	Models    []string
	ExpiresAt *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	// UpdatedAt moves on every change, revocation included; replicas poll
	// it to refresh their key caches.
	UpdatedAt time.Time
}

// KeyFilter selects keys for ListKeys.
type KeyFilter struct {
	// CustomerID limits the list to one customer's keys when set.
	CustomerID string
}

// UsageEvent is one metered request, written once: RequestID is unique
// and inserting the same event again is a no-op.
type UsageEvent struct {
	// RequestID is the gateway's own id of the request, unique: the
	// ledger's idempotency key.
	RequestID string
	// ClientRequestID is the X-Request-ID the client sent, if any. It
	// need not be unique: a client may send the same one twice.
	ClientRequestID string
	KeyID           string
	CustomerID      string
	Model           string // the public model the client asked for
	Provider        string
	UpstreamModel   string
	Endpoint        string // "chat.completions", "embeddings"
	// Token counts, in OpenAI's terms: PromptTokens includes CachedTokens.
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	// CostPicos is the upstream cost in pico-USD (1e-12 USD; zero for
	// cache hits).
	CostPicos int64
	// Priced is false when the model had no price: the tokens are recorded
	// but the cost is unknown, never silently zero.
	Priced    bool
	Estimated bool // token counts were counted locally
	CacheHit  bool
	Stream    bool
	Status    int
	LatencyMS int64
	CreatedAt time.Time
}

// Usage grouping dimensions and granularities (CONTRACT §4).
const (
	GroupCustomer = "customer"
	GroupKey      = "key"
	GroupModel    = "model"
	GroupProvider = "provider"

	GranularityHour  = "hour"
	GranularityDay   = "day"
	GranularityMonth = "month"
)

// UsageQuery selects and groups usage. From is inclusive and To exclusive,
// both UTC.
type UsageQuery struct {
	From, To time.Time
	// GroupBy holds any of GroupCustomer, GroupKey, GroupModel and
	// GroupProvider.
	GroupBy []string
	// Granularity is GranularityHour, GranularityDay, GranularityMonth or
	// empty (no time grouping).
	Granularity string
}

// UsageRow is one group of usage. Fields not grouped by are zero.
type UsageRow struct {
	PeriodStart      time.Time // zero without granularity
	CustomerID       string
	CustomerName     string
	KeyID            string
	Model            string
	Provider         string
	Requests         int64
	CachedRequests   int64
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	CostPicos        int64
	// UnpricedRequests counts requests whose model had no price.
	UnpricedRequests int64
}

// Store is the persistence every part of the gateway uses. Implementations
// are safe for concurrent use.
type Store interface {
	// Migrate applies pending schema migrations; it is safe to run from
	// several replicas at once.
	Migrate(ctx context.Context) error
	// Ping reports whether the database answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error

	CreateTier(ctx context.Context, t *Tier) error
	GetTier(ctx context.Context, name string) (*Tier, error)
	ListTiers(ctx context.Context) ([]Tier, error)
	UpdateTier(ctx context.Context, t *Tier) error
	DeleteTier(ctx context.Context, name string) error

	CreateCustomer(ctx context.Context, c *Customer) error
	GetCustomer(ctx context.Context, id string) (*Customer, error)
	ListCustomers(ctx context.Context) ([]Customer, error)
	UpdateCustomer(ctx context.Context, c *Customer) error
	DeleteCustomer(ctx context.Context, id string) error

	CreateKey(ctx context.Context, k *Key) error
	GetKey(ctx context.Context, id string) (*Key, error)
	ListKeys(ctx context.Context, f KeyFilter) ([]Key, error)
	// RevokeKey sets RevokedAt (idempotent) and moves UpdatedAt.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// KeysChangedSince returns the keys whose UpdatedAt is after since,
	// oldest change first, for incremental cache refreshes.
	KeysChangedSince(ctx context.Context, since time.Time) ([]Key, error)

	// GetSetting returns a stored setting; ErrNotFound when absent.
	GetSetting(ctx context.Context, name string) (string, error)
	// PutSettingIfAbsent stores a setting unless it exists; it reports
	// whether it stored it (so that one replica wins a first-start race).
	PutSettingIfAbsent(ctx context.Context, name, value string) (bool, error)

	// InsertUsage writes events in one batch; events whose RequestID is
	// already stored are skipped, so a replayed batch counts once.
	InsertUsage(ctx context.Context, events []UsageEvent) error
	// QueryUsage streams the grouped rows, ordered by period then the
	// grouped fields, to fn; fn's error stops the query and is returned.
	QueryUsage(ctx context.Context, q UsageQuery, fn func(UsageRow) error) error
	// SpendSince sums a customer's CostPicos from since (the monthly
	// budget's start), for limits after a restart.
	SpendSince(ctx context.Context, customerID string, since time.Time) (int64, error)
}
