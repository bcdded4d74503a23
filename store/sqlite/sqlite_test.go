package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-gw/tollgate/migrations"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "data", "tollgate.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestFilePath(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		ok        bool
	}{
		{"sqlite:///var/lib/tollgate/t.db", "/var/lib/tollgate/t.db", true},
		{"sqlite://data/t.db", "data/t.db", true},
		{"sqlite://./data/../data/t.db", "data/t.db", true},
		{"data/t.db", "data/t.db", true},
		{"/abs/t.db", "/abs/t.db", true},
		{"sqlite://", "", false},
		{"sqlite:///", "", false},
		{"sqlite://:memory:", "", false},
		{"file:t.db?mode=memory", "", false},
		{"sqlite:///t.db?_pragma=x", "", false},
		{"postgres://localhost/db", "", false},
	} {
		got, err := filePath(tc.url)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("filePath(%q) = %q, %v; want %q, ok %v", tc.url, got, err, tc.want, tc.ok)
		}
	}
}

func TestOpenURLForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, url := range []string{
		"sqlite://" + filepath.Join(dir, "abs", "a.db"), // sqlite:///abs/…
		"sqlite://rel/nested/b.db",
		filepath.Join("plain", "c.db"),
	} {
		s, err := Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Errorf("Migrate(%q): %v", url, err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping(%q): %v", url, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close(%q): %v", url, err)
		}
	}
	for _, p := range []string{"abs/a.db", "rel/nested/b.db", "plain/c.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("database file: %v", err)
		}
	}
}

// TestReopenKeepsData checks that the data survives a reopen and that a
// second Migrate on an existing file is a no-op.
func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSettingIfAbsent(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetSetting(t.Context(), "k"); err != nil || v != "v" {
		t.Errorf("GetSetting after reopen = %q, %v", v, err)
	}
}

// TestConcurrentMigrate opens one new file from several stores at once
// (as several processes would): each migration is applied once.
func TestConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	storetest.MigrateConcurrently(t, 4, func(ctx context.Context) (store.Store, error) { return Open(ctx, path) })
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var applied, tiers int
	if err := s.r.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM tollgate_migrations),
		(SELECT count(*) FROM tiers)`).Scan(&applied, &tiers); err != nil {
		t.Fatal(err)
	}
	all, err := migrations.Load(migrations.SQLite())
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(all) || tiers != 3 {
		t.Errorf("after concurrent migrations: %d versions recorded, %d tiers; want %d and 3", applied, tiers, len(all))
	}
}

// TestClientRequestIDStored checks that two events with the same client
// id are both stored, each with it.
func TestClientRequestIDStored(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.ClientRequestIDs(t, s, func(ctx context.Context) (ids []string, err error) {
		rows, err := s.r.QueryContext(ctx, `SELECT request_id || '=' || client_request_id FROM usage_events ORDER BY request_id`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			ids = append(ids, v)
		}
		return ids, rows.Err()
	})
}
