// Package storetest holds the store conformance suite, run against SQLite
// and PostgreSQL, and helpers that open a fresh test database of either kind.
package storetest

import (
	"context"
	"database/sql"

	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"tocsin/store"
)

// PostgresEnv names the environment variable holding the test PostgreSQL URL.
const PostgresEnv = "TOCSIN_TEST_POSTGRES_URL"

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// SQLiteURL returns the path of a new SQLite database file in a temp dir.
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "tocsin.db")
}

// PostgresURL returns the URL of a fresh, empty schema in the test
// PostgreSQL database, dropped when the test ends. Without TOCSIN_TEST_POSTGRES_URL
// the test is skipped — except in CI (CI=true), where it fails: the
// PostgreSQL suite must run there.
func PostgresURL(t testing.TB) string {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: the PostgreSQL suite must run in CI", PostgresEnv)
		}
		t.Skipf("%s not set; skipping PostgreSQL", PostgresEnv)
	}
	schema := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create test schema (is PostgreSQL at %s up?): %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store at url with the given options and closes it at the end of the test.
func Open(t testing.TB, url string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Kinds lists the database kinds with a URL factory each, for table tests.
func Kinds() []struct {
	Name string
	URL  func(testing.TB) string
} {
	return []struct {
		Name string
		URL  func(testing.TB) string
	}{{"sqlite", SQLiteURL}, {"postgres", PostgresURL}}
}
