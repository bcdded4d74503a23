// Package postgres is the PostgreSQL implementation of store.Store,
// through a pgx v5 connection pool. It is the store for several replicas
// sharing one database.
//
// Times are timestamptz (microsecond precision) and come back in UTC;
// created_at and updated_at are stamped with the database server's clock,
// so that replicas with skewed clocks agree on the order of key changes.
// The usage ledger (usage_events) is written with an exact hourly rollup
// (usage_hourly) in the same statement, and usage queries read the rollup
// for whole hours and the ledger only for partial edge hours.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-gw/tollgate/migrations"
	"github.com/tollgate-gw/tollgate/store"
)

// Store is a store.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// libpq keyword/value string, as pgx accepts) and checks that it answers.
// Unless the URL sets them, sessions use the time zone UTC and jit=off
// (compiling a usage export costs more than it saves). Open does not
// migrate: call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	for param, value := range map[string]string{"timezone": "UTC", "jit": "off"} {
		if _, ok := cfg.ConnConfig.RuntimeParams[param]; !ok {
			cfg.ConnConfig.RuntimeParams[param] = value
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool; it waits for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Migrate applies the pending migrations of migrations.Postgres, each in
// its own transaction, while holding a session advisory lock derived from
// the current schema: replicas starting at once wait for each other, and
// the second finds nothing to do.
func (s *Store) Migrate(ctx context.Context) (err error) {
	all, err := migrations.Load(migrations.Postgres())
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	const lockKey = `hashtext('tollgate-migrate:' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("postgres: migrate: take advisory lock: %w", err)
	}
	defer func() {
		_, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lockKey+`)`)
		if uerr != nil {
			// A connection that may still hold the lock must not go back
			// to the pool: closing it releases the lock.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, fmt.Errorf("postgres: migrate: release advisory lock: %w", uerr))
		}
	}()
	return applyMigrations(ctx, conn.Conn(), all)
}

// applyMigrations runs the migrations not yet recorded, in order.
func applyMigrations(ctx context.Context, conn *pgx.Conn, all []migrations.Migration) error {
	_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrations.Table+` (
		version    bigint      PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fmt.Errorf("postgres: migrate: create %s: %w", migrations.Table, err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM `+migrations.Table)
	if err != nil {
		return fmt.Errorf("postgres: migrate: read applied versions: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("postgres: migrate: read applied versions: %w", err)
	}
	for _, m := range all {
		if slices.Contains(applied, m.Version) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+migrations.Table+` (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migrate: apply %s: %w", m.Name, err)
		}
	}
	return nil
}

// wrap names the operation and maps PostgreSQL errors to the store's
// sentinels: no rows is store.ErrNotFound; a unique (23505) or foreign key
// (23503) violation is store.ErrConflict. The original error stays in the
// chain.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "23503") {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrConflict, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// notFound returns the wrapped store.ErrNotFound for op.
func notFound(op string) error {
	return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
}

// orEmpty makes a nil list an empty one, for NOT NULL array columns.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// orNil makes an empty list nil, the form the store returns.
func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
