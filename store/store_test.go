package store_test

import (
	"testing"

	"tocsin/store"
	"tocsin/store/storetest"
)

func TestSQLite(t *testing.T)   { storetest.Run(t, storetest.SQLiteURL) }
func TestPostgres(t *testing.T) { storetest.Run(t, storetest.PostgresURL) }

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"data/tocsin.db": store.SQLite, "sqlite:///tmp/x.db": store.SQLite, "file:x.db": store.SQLite,
		"postgres://u@h/db": store.Postgres, "postgresql://h/db": store.Postgres,
	} {
		if d, _, err := store.ParseURL(in); err != nil || d != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "mysql://x"} {
		if _, _, err := store.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}
