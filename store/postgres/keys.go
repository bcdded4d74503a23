package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/internal/newid"
	"github.com/tollgate-gw/tollgate/store/internal/usageplan"
)

const keyCols = `id, hash, prefix, customer_id, name, coalesce(tier, ''), models,
	expires_at, revoked_at, created_at, updated_at`

func scanKey(row pgx.Row) (store.Key, error) {
	var (
		k    store.Key
		hash []byte
	)
	err := row.Scan(&k.ID, &hash, &k.Prefix, &k.CustomerID, &k.Name, &k.Tier, &k.Models,
		&k.ExpiresAt, &k.RevokedAt, &k.CreatedAt, &k.UpdatedAt)
	if err != nil {
		return k, err
	}
	copy(k.Hash[:], hash)
	k.Models = orNil(k.Models)
	k.ExpiresAt, k.RevokedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	return k, nil
}

// utcPtr returns t in UTC, truncated to the stored precision; nil stays nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := usageplan.UTC(*t)
	return &u
}

// nullTier maps "no tier override" to NULL.
func nullTier(tier string) *string {
	if tier == "" {
		return nil
	}
	return &tier
}

// CreateKey inserts k, giving it an ID ("key_…") when it has none, and sets
// its CreatedAt and UpdatedAt. A taken ID or hash, an unknown customer or
// an unknown tier is store.ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k *store.Key) error {
	id := k.ID
	if id == "" {
		id = newid.New(newid.Key)
	}
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO keys (id, hash, prefix, customer_id, name, tier, models,
			expires_at, revoked_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, `+now+`, `+now+`)
		RETURNING created_at, updated_at`,
		id, k.Hash[:], k.Prefix, k.CustomerID, k.Name, nullTier(k.Tier), orEmpty(k.Models),
		utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt),
	).Scan(&created, &updated)
	if err != nil {
		return wrap("create key", err)
	}
	k.ID, k.CreatedAt, k.UpdatedAt = id, created.UTC(), updated.UTC()
	k.ExpiresAt, k.RevokedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
	return nil
}

// GetKey returns the key with the given id, or store.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (*store.Key, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM keys WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get key", err)
	}
	return &k, nil
}

// ListKeys returns the keys f selects (revoked ones included), oldest
// first.
func (s *Store) ListKeys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM keys
		WHERE $1 = '' OR customer_id = $1 ORDER BY created_at, id COLLATE "C"`, f.CustomerID)
	if err != nil {
		return nil, wrap("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Key, error) { return scanKey(r) })
	return out, wrap("list keys", err)
}

// RevokeKey sets the key's RevokedAt to at and moves its UpdatedAt. A key
// already revoked keeps its first RevokedAt and UpdatedAt (the call is a
// no-op); an unknown id is store.ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	var revoked bool
	err := s.pool.QueryRow(ctx, `WITH upd AS (
			UPDATE keys SET revoked_at = $2, updated_at = `+bump+`
			WHERE id = $1 AND revoked_at IS NULL RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM keys WHERE id = $1)`,
		id, usageplan.UTC(at)).Scan(&revoked)
	if err != nil {
		return wrap("revoke key", err)
	}
	if !revoked {
		return notFound("revoke key")
	}
	return nil
}

// KeysChangedSince returns the keys whose UpdatedAt is strictly after
// since, oldest change first (ties by id). Pollers should pass the newest
// UpdatedAt they have seen, less a small overlap: a change committed late
// can carry an earlier stamp than one already seen.
func (s *Store) KeysChangedSince(ctx context.Context, since time.Time) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM keys
		WHERE updated_at > $1 ORDER BY updated_at, id COLLATE "C"`, usageplan.UTC(since))
	if err != nil {
		return nil, wrap("keys changed since", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Key, error) { return scanKey(r) })
	return out, wrap("keys changed since", err)
}
