package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobsChannel is the PostgreSQL notification channel on which instances
// sharing a database tell each other that jobs were queued or re-armed.
const JobsChannel = "tocsin_jobs"

// Timing of the PostgreSQL wake-ups between instances.
const (
	// notifyGap is the least time between two NOTIFYs of one instance: at
	// a high commit rate many commits share one, and the others learn
	// within it (well inside the 100 ms the wake-up is for).
	notifyGap = 5 * time.Millisecond
	// listenBackoff bounds the wait before the listener reconnects.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// peers wakes the other instances on one PostgreSQL database and is woken
// by them: after a commit that queued or re-armed jobs, the store's Wake
// also rings notify, which NOTIFYs JobsChannel with the schema's name and
// its own id (outside the transaction, so commits never wait on
// PostgreSQL's notification queue); one dedicated connection LISTENs and
// calls the local Wake for every notification of another instance on the
// same schema. A notification lost to a crash between commit
// and NOTIFY only delays: every worker still polls.
type peers struct {
	s    *core
	dsn  string
	wake func() // the local worker's wake-up
	ring chan struct{}
	// id names this store in its notifications, so it ignores its own.
	id string
	// pid is the listening connection's backend, 0 while none listens.
	pid    atomic.Uint32
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startPeers starts the notifier and the listener of s and returns the
// Wake the store calls after its commits.
func startPeers(s *core, dsn string, wake func()) *peers {
	ctx, cancel := context.WithCancel(context.Background())
	p := &peers{s: s, dsn: dsn, wake: wake, ring: make(chan struct{}, 1), cancel: cancel, id: newID()}
	p.done.Add(2)
	go func() { defer p.done.Done(); p.notify(ctx) }()
	go func() { defer p.done.Done(); p.listen(ctx) }()
	return p
}

// Wake wakes the local worker and asks for a NOTIFY to the others. It
// never blocks.
func (p *peers) Wake() {
	p.wake()
	select {
	case p.ring <- struct{}{}:
	default:
	}
}

// stop ends the notifier and the listener.
func (p *peers) stop() {
	p.cancel()
	p.done.Wait()
}

// notify sends one NOTIFY per ring, at most one per notifyGap.
func (p *peers) notify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.ring:
		}
		// A failed NOTIFY only delays the others until their next poll.
		_, _ = p.s.db.ExecContext(ctx, `SELECT pg_notify($1, current_schema() || ' ' || $2)`, JobsChannel, p.id)
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyGap):
		}
	}
}

// listen holds one connection that LISTENs on JobsChannel and wakes the
// local worker for each notification, reconnecting with backoff when the
// connection fails.
func (p *peers) listen(ctx context.Context) {
	backoff := listenBackoffMin
	for again := false; ctx.Err() == nil; again = true {
		connected, _ := p.listenOnce(ctx, again)
		if connected {
			backoff = listenBackoffMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, listenBackoffMax)
	}
}

// listenOnce connects, LISTENs and wakes on notifications until the
// connection fails or ctx ends; connected says it got as far as
// listening. A reconnect wakes the worker once, for what was notified
// while nobody listened.
func (p *peers) listenOnce(ctx context.Context, reconnect bool) (connected bool, err error) {
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	// Notifications are per database; the payload names the schema (so
	// stores on other schemas of it, tests and tenants, are not woken)
	// and the store that sent it.
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return false, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+JobsChannel); err != nil {
		return false, err
	}
	p.pid.Store(conn.PgConn().PID())
	defer p.pid.Store(0)
	if reconnect {
		p.wake()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		// Another instance on this schema: this one woke itself already.
		if sch, from, _ := strings.Cut(n.Payload, " "); sch == schema && from != p.id {
			p.wake()
		}
	}
}
