package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
)

// TestListenerReconnects: when the LISTEN connection dies (its backend
// terminated), the store connects again, and a job queued by another
// instance then still wakes it.
func TestListenerReconnects(t *testing.T) {
	var wakes atomic.Int32
	url := testPostgresURL(t)
	b := openStore(t, url, Options{Wake: func() { wakes.Add(1) }})
	a := openStore(t, url, Options{})
	ctx := context.Background()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitUntil("the listener", func() bool { return b.peers.pid.Load() != 0 })
	first := b.peers.pid.Load()
	if _, err := a.db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int64(first)); err != nil {
		t.Fatal(err)
	}
	waitUntil("a new listening connection", func() bool { pid := b.peers.pid.Load(); return pid != 0 && pid != first })
	before := wakes.Load()
	if err := a.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "ping", DueAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitUntil("the wake-up from the other instance", func() bool { return wakes.Load() > before })
}
