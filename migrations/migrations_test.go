package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestDialectsShareVersions(t *testing.T) {
	pg, err := Load(Postgres())
	if err != nil {
		t.Fatal(err)
	}
	lite, err := Load(SQLite())
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Version != lite[i].Version || pg[i].Name != lite[i].Name {
			t.Errorf("migration %d: postgres %s, sqlite %s", i, pg[i].Name, lite[i].Name)
		}
		if strings.TrimSpace(pg[i].SQL) == "" || strings.TrimSpace(lite[i].SQL) == "" {
			t.Errorf("%s is empty", pg[i].Name)
		}
		if i > 0 && pg[i].Version <= pg[i-1].Version {
			t.Errorf("versions not ascending at %s", pg[i].Name)
		}
	}
}

func TestLoadOrdersAndValidates(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"0010_b.sql": {Data: []byte("B")},
		"0002_a.sql": {Data: []byte("A")},
		"README.md":  {Data: []byte("ignored")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 || ms[0].SQL != "A" {
		t.Fatalf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"init.sql": {Data: []byte("x")}},
		"zero":      {"0000_init.sql": {Data: []byte("x")}},
		"duplicate": {"0001_a.sql": {Data: []byte("x")}, "1_b.sql": {Data: []byte("y")}},
	} {
		if _, err := Load(fsys); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}
