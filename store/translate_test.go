package store

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"tocsin"
)

// openTestPostgres opens the store on a fresh schema of the test database.
func openTestPostgres(t *testing.T) *DB {
	t.Helper()
	return openStore(t, testPostgresURL(t), Options{})
}

// openStore opens the store at url with opts, closed when the test ends.
func openStore(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testPostgresURL returns the URL of a fresh schema of the test database.
func testPostgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TOCSIN_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TOCSIN_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI")
		}
		t.Skip("TOCSIN_TEST_POSTGRES_URL not set; skipping PostgreSQL")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "t_" + strings.ReplaceAll(newID(), "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() })
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// A connection dropped in the middle of a transaction (PostgreSQL stopped,
// a proxy cut, the backend killed) is the database being unavailable:
// EUNAVAILABLE, which the API answers 503 with Retry-After — not a bare 500.
// Each statement after the drop fails differently: the server's FATAL
// 57P01, then database/sql's bad connection, then pgconn's "conn closed"
// at commit.
func TestDroppedConnectionIsUnavailable(t *testing.T) {
	s := openTestPostgres(t)
	ctx := context.Background()
	for _, tc := range []struct {
		statements int
		commit     bool // ignore the statements' errors and commit
	}{{0, true}, {1, false}, {2, false}, {2, true}} {
		statements := tc.statements
		err := s.tx(ctx, func(tx *txn) error {
			var pid int
			if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			if _, err := s.db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			var err error
			for range statements {
				_, err = tx.ExecContext(ctx, `SELECT 1`)
			}
			if tc.commit {
				return nil
			}
			return err
		})
		if code := tocsin.ErrorCode(err); code != tocsin.EUNAVAILABLE {
			t.Errorf("dropped connection, %+v: code %q (%v)", tc, code, err)
		}
	}
}

// A value PostgreSQL cannot store in one of our own requests (here an id
// with NUL, read outside a transaction) is the caller's mistake, a 4xx —
// not a bare 500.
func TestInvalidValueIsInvalid(t *testing.T) {
	s := openTestPostgres(t)
	_, err := s.Incidents().FindIncident(context.Background(), "a\x00b")
	if code := tocsin.ErrorCode(err); code != tocsin.EINVALID {
		t.Fatalf("NUL in an id: code %q (%v)", code, err)
	}
	if code := tocsin.ErrorCode(alertError(translate(err))); code != tocsin.EINTERNAL {
		t.Fatalf("the same error for an alert: code %q, want internal (the sender retries)", code)
	}
}

// TestDeadlockVictimIsRetried makes PostgreSQL deadlock two transactions
// (each locks a row the other then wants) and checks that both commit: the
// victim is run again instead of failing an acknowledgement with a 503.
func TestDeadlockVictimIsRetried(t *testing.T) {
	s := openTestPostgres(t)
	ctx := context.Background()
	for _, name := range []string{"deadlock-a", "deadlock-b"} {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, '0')`, name); err != nil {
			t.Fatal(err)
		}
	}
	locked := make(chan struct{}, 2)
	both := make(chan struct{})
	go func() { <-locked; <-locked; close(both) }()
	run := func(first, second string) error {
		attempts := 0
		return s.tx(ctx, func(tx *txn) error {
			attempts++
			if _, err := tx.ExecContext(ctx, `UPDATE settings SET value = value || '1' WHERE name = $1`, first); err != nil {
				return err
			}
			if attempts == 1 {
				locked <- struct{}{}
				<-both // both hold their first row: the second updates deadlock
			}
			_, err := tx.ExecContext(ctx, `UPDATE settings SET value = value || '1' WHERE name = $1`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run("deadlock-a", "deadlock-b") }()
	go func() { errs <- run("deadlock-b", "deadlock-a") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a deadlocked transaction failed instead of being retried: %v", err)
		}
	}
	var a, b string
	s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'deadlock-a'`).Scan(&a)
	s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'deadlock-b'`).Scan(&b)
	if a != "011" || b != "011" {
		t.Fatalf("after both commits: a=%q b=%q, want both updated twice", a, b)
	}
}
