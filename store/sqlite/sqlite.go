// Package sqlite is the embedded implementation of store.Store: one SQLite
// file through the pure-Go driver modernc.org/sqlite (no cgo). It is the
// default store of a single gateway process.
//
// The file is opened twice: one writer connection, through which every
// write goes, one at a time (SQLite allows one writer; serialising writes
// here avoids SQLITE_BUSY), and a pool of read-only connections. The
// database runs in WAL mode, so readers never wait for the writer, with a
// busy timeout for other processes and foreign keys enforced.
//
// Times are INTEGER microseconds since the Unix epoch (UTC), stamped with
// this process's clock; money and token sums are INTEGER, and SQLite's
// sum() fails on an int64 overflow rather than rounding. The usage ledger
// is written with an exact hourly rollup in the same transaction.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tollgate-gw/tollgate/migrations"
	"github.com/tollgate-gw/tollgate/store"
)

// Store is a store.Store on one SQLite file. It is safe for concurrent use
// within one process; several processes may share the file, but writes
// then wait on each other through the busy timeout.
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // read-only connections
}

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readers is the size of the read-only pool.
const readers = 4

// Open opens (creating it and its parent directory when missing) the
// SQLite database named by url: "sqlite:///abs/path.db" (absolute),
// "sqlite://rel/path.db" (relative to the working directory), or a plain
// file path. In-memory databases and URL query parameters are refused.
// Open does not migrate: call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	path, err := filePath(url)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	base := path + "?_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// before any reader opens it. Switching the journal mode can fail with
	// SQLITE_BUSY without waiting on the busy timeout when several
	// processes open a new database at once: retry it for a while.
	if err := pingRetryBusy(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{w: w, r: r}, nil
}

// pingRetryBusy connects db, retrying for up to the busy timeout while
// the database is locked by another opener.
func pingRetryBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// filePath turns Open's url into a file path.
func filePath(url string) (string, error) {
	path := url
	if rest, ok := strings.CutPrefix(url, "sqlite://"); ok {
		path = rest // "/abs/path.db" from sqlite:///abs/path.db, "rel/path.db" from sqlite://rel/path.db
	} else if strings.Contains(url, "://") {
		return "", fmt.Errorf("sqlite: %q is not a sqlite:// URL or a file path", url)
	}
	switch {
	case path == "" || strings.HasSuffix(path, "/"):
		return "", fmt.Errorf("sqlite: %q names no file", url)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("sqlite: %q: in-memory and file: URI databases are not supported; give a file path", url)
	case strings.ContainsAny(path, "?#"):
		return "", fmt.Errorf("sqlite: %q: query parameters are not supported", url)
	}
	return filepath.Clean(path), nil
}

// Ping reports whether the database answers, for writing and reading.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Migrate applies the pending migrations of migrations.SQLite in one
// immediate transaction: it holds the write lock, so processes starting at
// once apply them one after the other, and the second finds nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := migrations.Load(migrations.SQLite())
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return s.write(ctx, "migrate", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrations.Table+` (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL) STRICT`)
		if err != nil {
			return fmt.Errorf("create %s: %w", migrations.Table, err)
		}
		for _, m := range all {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+migrations.Table+` WHERE version = ?`, m.Version).Scan(&n)
			if err != nil {
				return fmt.Errorf("read applied versions: %w", err)
			}
			if n > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO `+migrations.Table+` (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(time.Now()))
			if err != nil {
				return fmt.Errorf("record %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// write runs fn in a transaction on the writer connection and commits it;
// op names the operation in errors.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

// wrap names the operation and maps SQLite errors to the store's
// sentinels: no rows is store.ErrNotFound; a unique, primary key or
// foreign key violation is store.ErrConflict. The original error stays in
// the chain.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY,
			sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrConflict, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// notFound returns the wrapped store.ErrNotFound for op.
func notFound(op string) error {
	return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
}

// micros is t as stored: microseconds since the epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is a stored time as a UTC time.Time.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nowMicros is the stamp of a created or changed row.
func nowMicros() int64 { return micros(time.Now()) }
