package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// The SQLite database holds the ack-signing key: it and its -wal and -shm
// files are 0600 whatever the umask, and an existing world-readable
// database is tightened when opened.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "tocsin.db")
	db := storetest.Open(t, path, store.Options{})
	if _, err := db.Incidents().Ingest(context.Background(), []*tocsin.Alert{storetest.NewAlert("g", "f", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), m)
		}
	}
	db.Close()

	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(f, 0o644)
	}
	storetest.Open(t, path, store.Options{})
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("reopened %s: mode %o, want 600", filepath.Base(f), st.Mode().Perm())
		}
	}
}

// A generated token is kept as a hash only; an older database's clear
// token is replaced by its hash and handed back once.
func TestGeneratedTokenHashed(t *testing.T) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			db := storetest.Open(t, k.URL(t), store.Options{})
			ctx := context.Background()
			tok, hash, err := db.Secrets().GeneratedToken(ctx, "api-token")
			if err != nil || len(tok) != 64 || hash != store.TokenHash(tok) {
				t.Fatalf("first call: %q %q %v", tok, hash, err)
			}
			again, hash2, err := db.Secrets().GeneratedToken(ctx, "api-token")
			if err != nil || again != "" || hash2 != hash {
				t.Fatalf("second call: %q %q %v", again, hash2, err)
			}
			assertNoClear(t, db, tok)

			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('ingest-token', 'old-clear-token')`); err != nil {
				t.Fatal(err)
			}
			tok, hash, err = db.Secrets().GeneratedToken(ctx, "ingest-token")
			if err != nil || tok != "old-clear-token" || hash != store.TokenHash("old-clear-token") {
				t.Fatalf("migration: %q %q %v", tok, hash, err)
			}
			assertNoClear(t, db, "old-clear-token")
			if tok, hash2, _ := db.Secrets().GeneratedToken(ctx, "ingest-token"); tok != "" || hash2 != hash {
				t.Fatalf("after migration: %q %q", tok, hash2)
			}
		})
	}
}

func assertNoClear(t *testing.T, db *store.DB, token string) {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM settings WHERE value = $1`, token).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the clear token is stored (%d rows, %v)", n, err)
	}
}
