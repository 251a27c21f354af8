package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// Readiness means tocsin can commit, not that the database answers a
// read: with SQLite's write lock held elsewhere (as good as a full disk
// for a writer), Ping still succeeds but Ready fails within its deadline.
func TestReadyNeedsACommit(t *testing.T) {
	url := storetest.SQLiteURL(t)
	db := storetest.Open(t, url, store.Options{})
	ctx := context.Background()
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("ready on a healthy database: %v", err)
	}

	other, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("ping with the write lock taken: %v", err)
	}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err = db.Ready(tctx)
	if code := tocsin.ErrorCode(err); code != tocsin.EUNAVAILABLE {
		t.Fatalf("ready while writes cannot commit: code %q (%v)", code, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ready took %s past its deadline", d)
	}
	conn.ExecContext(ctx, "ROLLBACK")
	eventuallyReady(t, db)
}

func eventuallyReady(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.Ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready again after the lock was released: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadyPostgres(t *testing.T) {
	db := storetest.Open(t, storetest.PostgresURL(t), store.Options{})
	if err := db.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
}
