package store

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// Migrations wait for each other only within one schema, and on
// PostgreSQL's lock queue: with schema A's migration lock held, a tocsin
// opening schema B migrates at once, and one opening A waits in
// pg_advisory_lock (seen in pg_locks as a waiting advisory lock, not a
// retry loop) and finishes as soon as the lock is released.
func TestMigrationLockIsPerSchema(t *testing.T) {
	urlA, urlB := testPostgresURL(t), testPostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	holder, err := sql.Open("pgx", urlA)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := (schemaLocker{}).SessionLock(ctx, conn); err != nil {
		t.Fatal(err)
	}
	held := true
	defer func() {
		if held {
			schemaLocker{}.SessionUnlock(context.Background(), conn)
		}
	}()

	// Another schema: not held up (a shared lock would block until ctx ends).
	b, err := Open(ctx, urlB, Options{})
	if err != nil {
		t.Fatalf("open schema B while A migrates: %v", err)
	}
	b.Close()

	// The same schema: waits on the lock.
	opened := make(chan error, 1)
	go func() {
		a, err := Open(ctx, urlA, Options{})
		if err == nil {
			a.Close()
		}
		opened <- err
	}()
	for {
		var waiting int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			migrateLockClass).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-opened:
			t.Fatalf("schema A opened while its migration lock was held (err %v)", err)
		case <-ctx.Done():
			t.Fatal("no session waits on schema A's migration lock")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := (schemaLocker{}).SessionUnlock(ctx, conn); err != nil {
		t.Fatal(err)
	}
	held = false
	if err := <-opened; err != nil {
		t.Fatalf("open schema A after the lock was released: %v", err)
	}
}
