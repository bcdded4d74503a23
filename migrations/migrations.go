// Package migrations holds Tollgate's schema as numbered SQL files, one set
// per dialect (postgres/ and sqlite/), embedded in the binary.
//
// A file is named NNNN_description.sql; its number is its version, and the
// versions of a dialect are applied in ascending order, each once. Both
// dialects keep the same versions, so that a version means the same change
// everywhere. The stores (store/postgres, store/sqlite) apply them with
// their own small runner: PostgreSQL under an advisory lock, SQLite inside
// one immediate (write-locked) transaction, so that replicas starting at
// once are safe. They record what they applied in the table named by
// Table.
//
// We keep our own runner rather than a migration library: the whole job is
// "read the files, take a lock, apply what is missing in a transaction",
// the PostgreSQL store works through pgx directly (a library would need a
// database/sql bridge), and the locking is specific to each store.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Table is the name of the table in which the stores record the applied
// versions: (version, name, applied_at).
const Table = "tollgate_migrations"

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Migration is one schema change.
type Migration struct {
	// Version is the file's number; versions are unique per dialect.
	Version int64
	// Name is the file name, e.g. "0001_init.sql".
	Name string
	// SQL is the file's text; it may hold several statements.
	SQL string
}

// Postgres returns the PostgreSQL migrations as a file system of *.sql
// files.
func Postgres() fs.FS { return sub("postgres") }

// SQLite returns the SQLite migrations as a file system of *.sql files.
func SQLite() fs.FS { return sub("sqlite") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, and dir is a constant.
		panic(fmt.Sprintf("migrations: sub %s: %v", dir, err))
	}
	return f
}

// Load reads the *.sql files at the root of fsys and returns them in
// ascending version order. It fails on a file name without a leading
// number and on two files with the same version.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: read dir: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, err := version(e.Name())
		if err != nil {
			return nil, err
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations: %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// version parses the leading number of a file name such as "0001_init.sql".
func version(name string) (int64, error) {
	num, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, fmt.Errorf("migrations: %s: name must look like NNNN_description.sql", name)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("migrations: %s: name must start with a positive version number", name)
	}
	return v, nil
}
