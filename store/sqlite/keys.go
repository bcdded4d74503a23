package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/internal/newid"
)

const keyCols = `id, hash, prefix, customer_id, name, coalesce(tier, ''), models,
	expires_at, revoked_at, created_at, updated_at`

func scanKey(row scanner) (store.Key, error) {
	var (
		k                store.Key
		hash             []byte
		models           string
		expires, revoked sql.NullInt64
		created, updated int64
	)
	err := row.Scan(&k.ID, &hash, &k.Prefix, &k.CustomerID, &k.Name, &k.Tier, &models,
		&expires, &revoked, &created, &updated)
	if err != nil {
		return k, err
	}
	copy(k.Hash[:], hash)
	k.ExpiresAt, k.RevokedAt = timePtr(expires), timePtr(revoked)
	k.CreatedAt, k.UpdatedAt = fromMicros(created), fromMicros(updated)
	k.Models, err = parseModels(models)
	return k, err
}

// timePtr is a nullable stored time.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nullMicros is a nullable time as stored.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// nullTier maps "no tier override" to NULL.
func nullTier(tier string) sql.NullString {
	return sql.NullString{String: tier, Valid: tier != ""}
}

// CreateKey inserts k, giving it an ID ("key_…") when it has none, and sets
// its CreatedAt and UpdatedAt. A taken ID or hash, an unknown customer or
// an unknown tier is store.ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k *store.Key) error {
	id := k.ID
	if id == "" {
		id = newid.New(newid.Key)
	}
	now := nowMicros()
	expires, revoked := nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO keys (id, hash, prefix, customer_id, name, tier, models,
			expires_at, revoked_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, k.Hash[:], k.Prefix, k.CustomerID, k.Name, nullTier(k.Tier), modelsJSON(k.Models),
		expires, revoked, now, now)
	if err != nil {
		return wrap("create key", err)
	}
	k.ID, k.CreatedAt, k.UpdatedAt = id, fromMicros(now), fromMicros(now)
	k.ExpiresAt, k.RevokedAt = timePtr(expires), timePtr(revoked)
	return nil
}

// GetKey returns the key with the given id, or store.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (*store.Key, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, `SELECT `+keyCols+` FROM keys WHERE id = ?`, id))
	if err != nil {
		return nil, wrap("get key", err)
	}
	return &k, nil
}

// ListKeys returns the keys f selects (revoked ones included), oldest
// first.
func (s *Store) ListKeys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	return list(ctx, s.r, "list keys", scanKey, `SELECT `+keyCols+` FROM keys
		WHERE ?1 = '' OR customer_id = ?1 ORDER BY created_at, id`, f.CustomerID)
}

// RevokeKey sets the key's RevokedAt to at and moves its UpdatedAt. A key
// already revoked keeps its first RevokedAt and UpdatedAt (the call is a
// no-op); an unknown id is store.ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, "revoke key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ?, updated_at = `+bump+`
			WHERE id = ? AND revoked_at IS NULL`, micros(at), nowMicros(), id)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM keys WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// KeysChangedSince returns the keys whose UpdatedAt is strictly after
// since, oldest change first (ties by id).
func (s *Store) KeysChangedSince(ctx context.Context, since time.Time) ([]store.Key, error) {
	return list(ctx, s.r, "keys changed since", scanKey, `SELECT `+keyCols+` FROM keys
		WHERE updated_at > ? ORDER BY updated_at, id`, micros(since))
}
