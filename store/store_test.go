package store_test

import (
	"context"
	"strings"
	"testing"

	"tocsin"

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

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://postgres:hunter2@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", store.Options{})
	if code := tocsin.ErrorCode(err); code != tocsin.EUNAVAILABLE {
		t.Fatalf("unreachable PostgreSQL: code %q (%v)", code, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password in error: %v", err)
	}
}

func TestSQLiteFileIsLocked(t *testing.T) {
	url := storetest.SQLiteURL(t)
	storetest.Open(t, url, store.Options{})
	if _, err := store.Open(context.Background(), url, store.Options{}); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
		t.Fatalf("second process on one SQLite file: %v", err)
	}
}
