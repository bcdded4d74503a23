package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-gw/tollgate/migrations"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/storetest"
)

// testURL returns the PostgreSQL the tests use (TOLLGATE_TEST_POSTGRES_URL,
// set by scripts/test.sh); without it the test is skipped, or fails in CI.
func testURL(t testing.TB) string {
	u := os.Getenv("TOLLGATE_TEST_POSTGRES_URL")
	if u == "" {
		msg := "TOLLGATE_TEST_POSTGRES_URL is not set: run scripts/test.sh, or set it to a PostgreSQL " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return u
}

// withSearchPath returns base with search_path set to schema, for a URL
// or a keyword/value connection string.
func withSearchPath(t testing.TB, base, schema string) string {
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TOLLGATE_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshSchema creates an empty schema tg_test_<random>, dropped when the
// test ends, and returns a URL whose sessions use it.
func freshSchema(t testing.TB) string {
	base := testURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "tg_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// openFresh opens a store on a fresh schema (not migrated).
func openFresh(t testing.TB) *Store {
	u := freshSchema(t)
	s, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

// TestConcurrentMigrate starts several replicas on one empty schema at
// once: the advisory lock lets exactly one apply each migration.
func TestConcurrentMigrate(t *testing.T) {
	u := freshSchema(t)
	storetest.MigrateConcurrently(t, 4, func(ctx context.Context) (store.Store, error) { return Open(ctx, u) })
	s, err := Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var applied, tiers int
	if err := s.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM tollgate_migrations),
		(SELECT count(*) FROM tiers)`).Scan(&applied, &tiers); err != nil {
		t.Fatal(err)
	}
	all, err := migrations.Load(migrations.Postgres())
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(all) || tiers != 3 {
		t.Errorf("after concurrent migrations: %d versions recorded, %d tiers; want %d and 3", applied, tiers, len(all))
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"); err == nil {
		t.Error("Open of an unreachable server succeeded")
	}
	if _, err := Open(t.Context(), "postgres://%zz"); err == nil {
		t.Error("Open of a malformed URL succeeded")
	}
}

// TestClientRequestIDStored checks that two events with the same client
// id are both stored, each with it.
func TestClientRequestIDStored(t *testing.T) {
	s := openFresh(t)
	storetest.ClientRequestIDs(t, s, func(ctx context.Context) ([]string, error) {
		rows, err := s.pool.Query(ctx, `SELECT request_id || '=' || client_request_id FROM usage_events ORDER BY request_id`)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	})
}
