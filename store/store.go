// Package store keeps tocsin's state in SQLite (the embedded default) or
// PostgreSQL (many instances, one database) through one implementation:
// database/sql, portable SQL with $N placeholders, and a small dialect for
// the few differences. Migrations are embedded and applied at Open.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"tocsin"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options configure a DB.
type Options struct {
	// Now is the clock (default time.Now). Tests fast-forward it.
	Now func() time.Time
	// Policy are the incident rules applied by Ingest.
	Policy tocsin.Policy
	// Wake is called after a commit that added or re-armed jobs, so the
	// engine can look for due work at once. It must not block.
	Wake func()
	// AttachmentMaxBytes limits an attachment's size (default
	// tocsin.DefaultAttachmentBytes).
	AttachmentMaxBytes int64
	// FindingsWindow is how long before an incident opened a change to its
	// service is a finding (default tocsin.DefaultFindingsWindow).
	FindingsWindow time.Duration
}

// DB is an open store: one connection, dialect and group-commit writer
// shared by one type per aggregate (Incidents, OnCall, Engagements, Jobs,
// Secrets, ResponsePlans, Runbooks). A write that spans aggregates (an
// alert queues jobs, an acknowledgement stops engagements) is one
// transaction: the aggregates share the package's helpers that take a
// *txn, never each other's methods.
type DB struct {
	*core
	incidents   Incidents
	oncall      OnCall
	engagements Engagements
	jobs        Jobs
	secrets     Secrets
	plans       ResponsePlans
	runbooks    Runbooks
}

// Incidents are alerts, incidents and their timelines. It implements
// tocsin.IncidentService.
type Incidents struct{ *core }

// OnCall holds contacts and their groups, rotations and overrides,
// schedules and escalation plans.
type OnCall struct{ *core }

// Engagements are the runs of escalation plans: stages, pages and their
// receipts.
type Engagements struct{ *core }

// Jobs is the outbox and its durable timers. It implements tocsin.JobStore.
type Jobs struct{ *core }

// Secrets are the keys and generated tokens tocsin keeps in the database.
type Secrets struct{ *core }

// Incidents returns the store of alerts and incidents.
func (s *DB) Incidents() *Incidents { return &s.incidents }

// OnCall returns the store of contacts, rotations, schedules and plans.
func (s *DB) OnCall() *OnCall { return &s.oncall }

// Engagements returns the store of engagements and pages.
func (s *DB) Engagements() *Engagements { return &s.engagements }

// Jobs returns the job queue.
func (s *DB) Jobs() *Jobs { return &s.jobs }

// Secrets returns the store of keys and generated tokens.
func (s *DB) Secrets() *Secrets { return &s.secrets }

// ResponsePlans returns the store of response plans and the routing.
func (s *DB) ResponsePlans() *ResponsePlans { return &s.plans }

// core is the connection, dialect and SQLite group-commit writer every
// aggregate shares.
type core struct {
	db      *sql.DB
	dialect string
	lock    *os.File // the SQLite file's process lock
	opts    Options

	// SQLite group commit (see tx).
	writes        chan *write
	closed        chan struct{}
	closeOnce     sync.Once
	committerDone chan struct{}
	stmts         sync.Map // query → *sql.Stmt (SQLite)
	recent        recentHashes
	decided       decidedRepeats // repeats decided in full, confirmed by one read
	openKeys      openKeys       // keys seen with an open incident lately: look them up, never guess (guess.go)
	repeats       repeatCounts   // repeat counts not yet written
	confirms      confirmations  // reads confirming repeats, shared
	peers         *peers         // PostgreSQL: the other instances' wake-ups
	routings      routingCache   // the routing last read, checked by every look-up
	swept         atomic.Int64   // when claims last swept cancelled jobs (µs)
	// guesses and guessesWrong count the alerts guessed to open an
	// incident, and the guesses that did not hold.
	guesses, guessesWrong atomic.Int64
}

// ParseURL tells the dialect and driver data source of a database URL: a
// postgres:// or postgresql:// URL, or a SQLite path, sqlite://path or
// file:path.
func ParseURL(url string) (dialect, dsn string, err error) {
	switch {
	case url == "":
		return "", "", tocsin.Errorf(tocsin.EINVALID, "database: empty URL")
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return Postgres, url, nil
	case strings.HasPrefix(url, "sqlite://"):
		return SQLite, strings.TrimPrefix(url, "sqlite://"), nil
	case strings.HasPrefix(url, "sqlite:"):
		return SQLite, strings.TrimPrefix(url, "sqlite:"), nil
	case strings.HasPrefix(url, "file:"):
		return SQLite, strings.TrimPrefix(url, "file:"), nil
	case strings.Contains(url, "://"):
		return "", "", tocsin.Errorf(tocsin.EINVALID, "database: unsupported URL scheme (use a SQLite path, sqlite://PATH or postgres://…)")
	}
	return SQLite, url, nil
}

// Open connects to the database at url, applies migrations and returns the store.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	dialect, dsn, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Wake == nil {
		opts.Wake = func() {}
	}
	if opts.AttachmentMaxBytes <= 0 {
		opts.AttachmentMaxBytes = tocsin.DefaultAttachmentBytes
	}
	if opts.FindingsWindow <= 0 {
		opts.FindingsWindow = tocsin.DefaultFindingsWindow
	}
	s := &core{dialect: dialect, opts: opts, writes: make(chan *write), closed: make(chan struct{}), committerDone: make(chan struct{})}
	switch dialect {
	case SQLite:
		path, query, _ := strings.Cut(dsn, "?")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		// WAL for concurrent readers; synchronous FULL so a 2xx means the
		// alert survives power loss; IMMEDIATE transactions so a writer
		// takes its lock at BEGIN instead of failing on upgrade.
		params := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
		if query != "" {
			params = query + "&" + params
		}
		// One process owns a SQLite database: a second tocsin on the same
		// file would share its single writer and its jobs. The lock makes
		// that an error, and lets this process reclaim the leases a
		// crashed predecessor left behind at once.
		if s.lock, err = lockFile(path + ".lock"); err != nil {
			return nil, err
		}
		if err := privateFiles(path); err != nil {
			s.lock.Close()
			return nil, err
		}
		s.db, err = sql.Open("sqlite", path+"?"+params)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		go s.committer()
	case Postgres:
		close(s.committerDone)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", redactErr(err, dsn))
		}
		sessionSettings(cfg)
		s.db = stdlib.OpenDB(*cfg)
		s.db.SetMaxOpenConns(32)
		s.db.SetMaxIdleConns(32)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := s.migrate(ctx); err != nil {
		s.close()
		return nil, redactErr(err, dsn)
	}
	if dialect == Postgres {
		// Instances sharing the database wake each other (LISTEN/NOTIFY)
		// instead of finding each other's work at their next poll.
		s.peers = startPeers(s, dsn, s.opts.Wake)
		s.opts.Wake = s.peers.Wake
	}
	if s.lock != nil {
		// SQLite gives -wal and -shm the database's mode; make sure.
		if err := privateFiles(strings.SplitN(dsn, "?", 2)[0]); err != nil {
			s.close()
			return nil, err
		}
		if err := s.releaseLeases(ctx); err != nil {
			s.close()
			return nil, fmt.Errorf("release stale leases: %w", err)
		}
	}
	s.startRepeatFlusher(repeatFlushInterval)
	return &DB{core: s, incidents: Incidents{s}, oncall: OnCall{s}, engagements: Engagements{s}, jobs: Jobs{s}, secrets: Secrets{s}, plans: ResponsePlans{s}, runbooks: Runbooks{s}}, nil
}

func (s *core) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	var gopts []goose.ProviderOption
	gd := goose.DialectSQLite3
	if s.dialect == Postgres {
		gd = goose.DialectPostgres
		// Several instances may start at once against one database.
		gopts = append(gopts, goose.WithSessionLocker(schemaLocker{}))
	}
	p, err := goose.NewProvider(gd, s.db, fsys, gopts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// A database a newer tocsin migrated has tables and meanings this
	// binary does not know; running on it would corrupt them. (A fresh
	// database has no version table yet: nothing to compare.)
	sources := p.ListSources()
	known := sources[len(sources)-1].Version
	if current, err := p.GetDBVersion(ctx); err == nil && current > known {
		return tocsin.Errorf(tocsin.ECONFLICT, "the database schema is at version %d, newer than this tocsin knows (%d): "+
			"it was upgraded by a newer tocsin. Run that version, or restore a backup taken before the upgrade (see README, Operations)", current, known)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", translate(err))
	}
	return nil
}

// Dialect returns SQLite or Postgres.
func (s *DB) Dialect() string { return s.dialect }

// Close closes the database and releases the SQLite file lock.
// sessionSettings are what tocsin's PostgreSQL sessions run with, unless
// the URL sets them: tocsin's statements are small reads and writes by
// index, each prepared once per connection.
//
//   - enable_seqscan off: after five runs PostgreSQL keeps one plan for any
//     parameters (a generic plan) until the table's statistics change. Made
//     while a table is a page or two — a quiet system's outbox, vacuumed —
//     that plan reads the whole table, and keeps doing so when a storm fills
//     it: with 20,000 jobs every claim, completion and look-up reads all of
//     them (1.6 ms for one job by id, against 0.02) until autovacuum
//     analyses the table, a minute or more later. Without sequential scans
//     the plan takes the index at any size; a statement with no usable
//     index still scans. TestGenericPlansUseIndexes holds the hot
//     statements to it.
//   - jit off: a plan's cost is an estimate, and one over jit_above_cost
//     (a read of a claim's incidents, estimated from the statistics of
//     tables a minute old; any scan once scans cost 10^10 above) was
//     compiled before it ran — 20–50 ms for a 1 ms read, on every run.
func sessionSettings(cfg *pgx.ConnConfig) {
	for k, v := range map[string]string{"enable_seqscan": "off", "jit": "off"} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
}

func (s *DB) Close() error { return s.close() }

func (s *core) close() error {
	// Repeat counts are written while the database is still open.
	flushErr := s.stopRepeatFlusher()
	s.closeOnce.Do(func() { close(s.closed) })
	<-s.committerDone
	if s.peers != nil {
		s.peers.stop()
	}
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	return errors.Join(flushErr, err)
}

// privateFiles creates the SQLite database file owner-only before the
// driver opens it (the driver would create it 0644 less the umask), and
// takes group and other access from an existing database and its -wal and
// -shm files: they hold the ack-signing key and every incident.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("check database file mode: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("make database file private: %w", err)
			}
		}
	}
	return nil
}

// lockFile takes an exclusive, non-blocking lock on path. The kernel
// drops it when the process dies, even by kill -9.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, tocsin.Errorf(tocsin.ECONFLICT, "the SQLite database %s is in use by another tocsin process (use PostgreSQL to run several)", strings.TrimSuffix(path, ".lock"))
	}
	return f, nil
}

// Ping checks that the database answers (readiness).
func (s *DB) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return translate(err)
	}
	return nil
}

// SQL returns the underlying handle, for tests that inspect rows.
func (s *DB) SQL() *sql.DB { return s.db }

// tx runs fn in a write transaction and commits it. On SQLite, whose one
// writer makes every write wait its turn anyway, concurrent calls are
// grouped into one transaction by the committer (group commit): one fsync
// for many callers, each answered only after the commit.
func (s *core) tx(ctx context.Context, fn func(tx *txn) error) error {
	if s.dialect == SQLite {
		return s.groupTx(ctx, fn)
	}
	return s.singleTx(ctx, fn)
}

// txn is a write transaction whose statements are prepared once per
// connection and reused (SQLite spends more time parsing our small
// statements than running them). PostgreSQL's driver caches on its own.
//
// On PostgreSQL it begins lazily (beginLazy): the reads that precede any
// write (the routing and the open-incident look-up: unflushed) run on the
// transaction's connection before BEGIN — at READ COMMITTED, the default,
// each statement reads its own snapshot in a transaction or not, and they
// take no locks — and BEGIN is sent before the first statement that may
// write. A transaction whose only write is its held-back rows, when they
// are one statement, sends that statement alone at commit: one statement
// is a transaction of its own, committed (and durable) when it returns.
// A new incident's alert then costs two round trips, not five.
type txn struct {
	// Tx is the transaction, nil until begun (PostgreSQL).
	Tx *sql.Tx
	// conn is the connection a lazily begun transaction runs on (nil on
	// SQLite, whose transactions begin at once).
	conn *sql.Conn
	db   *core
	// queued counts the jobs this transaction queued (a group's members
	// share it: each compares it before and after its part), so a commit
	// that queued nothing wakes no worker.
	queued int
	// held is the rows held back for multi-row inserts (batch.go), and
	// holding whether there are any.
	held    held
	holding bool
	// failed is a failed flush's error: the transaction is then lost, and
	// every later statement and the commit fail with it.
	failed error
	// guess is the guess of a new incident this transaction's writes rest
	// on (guess.go), if any.
	guess *openGuess
	// routing is the routing an ingest of this transaction loaded last, for
	// the next one (a SQLite group's members), cached for every transaction
	// once this one commits (see routingFor).
	routing *routing
}

// begin begins a transaction at once (SQLite: BEGIN IMMEDIATE takes the
// write lock).
func (s *core) begin(ctx context.Context) (*txn, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, db: s}, nil
}

// beginLazy takes a connection for a transaction that sends BEGIN only
// before its first statement that may write (PostgreSQL; see txn).
func (s *core) beginLazy(ctx context.Context) (*txn, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &txn{conn: conn, db: s}, nil
}

// start sends BEGIN unless the transaction has begun. A failure is
// sticky, as a failed flush's is.
func (t *txn) start(ctx context.Context) error {
	if t.Tx != nil {
		return nil
	}
	if t.failed != nil {
		return t.failed
	}
	if t.guess != nil {
		// A guessed transaction writes only through its guarded
		// statement: the ingest runs again with the look-up.
		t.failed = errGuessWrong
		return t.failed
	}
	tx, err := t.conn.BeginTx(ctx, nil)
	if err != nil {
		t.failed = err
		return err
	}
	t.Tx = tx
	return nil
}

// sqlRunner runs statements: a *sql.Tx, or a *sql.Conn before BEGIN.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// run is where the transaction's statements go: the transaction once
// begun, else its connection (reads before BEGIN, and the held rows'
// lone statement at commit).
func (t *txn) run() sqlRunner {
	if t.Tx != nil {
		return t.Tx
	}
	return t.conn
}

// release gives a lazily begun transaction's connection back to the pool.
func (t *txn) release() {
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}

// ready begins the transaction (if it has not) and inserts the rows held
// back: what every statement that may write needs first.
func (t *txn) ready(ctx context.Context) error {
	if err := t.start(ctx); err != nil {
		return err
	}
	return t.flush(ctx)
}

// prepared returns the cached prepared statement for query on SQLite, or
// nil on PostgreSQL (whose driver caches on its own) and when it cannot be
// prepared (the caller then runs the query unprepared and gets its error).
func (s *core) prepared(ctx context.Context, query string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	v, ok := s.stmts.Load(query)
	if !ok {
		st, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil
		}
		var loaded bool
		if v, loaded = s.stmts.LoadOrStore(query, st); loaded {
			st.Close()
		}
	}
	return v.(*sql.Stmt)
}

// queryRow runs a one-row read outside any transaction, prepared once on
// SQLite: the reads every job makes (LoadDelivery) would otherwise spend
// more time in SQLite's parser than in the query.
func (s *core) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

// query runs a read outside any transaction, prepared once on SQLite.
func (s *core) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

// reader runs reads: a write transaction (*txn), or the database outside
// any transaction (dbReader) for a check made before one.
type reader interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// querier runs reads: the database (dbReader) or a transaction (*txn).
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs a read and scans every row with scan: the one loop of the
// package's lists, errors translated.
func queryAll[T any](ctx context.Context, q querier, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []T{} // a list of none is empty, not null, in JSON
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// placeholders is n numbered placeholders from $first on, comma-separated.
func placeholders(first, n int) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(first+i)
	}
	return strings.Join(ph, ", ")
}

// anySlice converts strings to statement arguments.
func anySlice(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// dbReader reads outside any transaction, through the statement cache.
type dbReader struct{ *core }

// QueryRowContext runs a one-row read.
func (r dbReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.queryRow(ctx, query, validArgs(args)...)
}

// QueryContext runs a read.
func (r dbReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.query(ctx, query, validArgs(args)...)
}

// stmt returns the transaction's handle on the cached prepared statement
// for query, or nil (see prepared).
func (t *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := t.db.prepared(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	return nil
}

// ExecContext runs a statement in the transaction, after the rows held
// back.
func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	args = validArgs(args)
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction, after the rows held back.
func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	return t.query(ctx, query, args...)
}

// QueryRowContext runs a one-row query in the transaction, after the rows
// held back. A failed flush is the row's error.
func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := t.ready(ctx); err != nil {
		// sql.Row has no constructor taking an error: the row fails as a
		// query on a cancelled context does, and attemptTx answers with
		// the flush's own error (t.failed).
		c, cancel := context.WithCancelCause(ctx)
		cancel(err)
		return t.run().QueryRowContext(c, `SELECT 1`)
	}
	return t.queryRow(ctx, query, args...)
}

// query runs a query in the transaction, held-back rows or not.
func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	args = validArgs(args)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.run().QueryContext(ctx, query, args...)
}

// queryRow runs a one-row query in the transaction, held-back rows or not.
func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	args = validArgs(args)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.run().QueryRowContext(ctx, query, args...)
}

// Commit inserts the rows held back and commits; the routing it read is
// then committed state, cached for every transaction.
func (t *txn) Commit() error {
	defer t.release()
	ctx := context.Background()
	if t.Tx == nil && t.failed == nil && (!t.holding || t.oneHeldStatement()) {
		// Not begun: reads only, or held rows that are one statement,
		// a transaction of its own.
		if err := t.insertHeld(ctx); err != nil {
			return err
		}
	} else {
		if err := t.ready(ctx); err != nil {
			if t.Tx != nil {
				t.Tx.Rollback()
			}
			return err
		}
		if err := t.Tx.Commit(); err != nil {
			return err
		}
	}
	if t.routing != nil {
		t.db.routings.put(t.routing)
	}
	return nil
}

// Rollback forgets the rows held back and rolls back.
func (t *txn) Rollback() error {
	defer t.release()
	t.discard()
	if t.Tx == nil {
		return nil
	}
	return t.Tx.Rollback()
}

// singleTx runs fn in a transaction of its own.
func (s *core) singleTx(ctx context.Context, fn func(tx *txn) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.attemptTx(ctx, fn); err == nil || !transient(err) || attempt == maxTxAttempts {
			return translate(err)
		}
		// PostgreSQL aborted us to break a deadlock (a lease renewal and an
		// acknowledgement lock the same job rows in different orders) or a
		// serialization conflict: the whole transaction is safe to run
		// again — fn is re-runnable, as group commit already requires.
		select {
		case <-ctx.Done():
			return translate(err)
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// maxTxAttempts bounds how often a transaction PostgreSQL aborted as a
// deadlock victim or serialization failure is run again.
const maxTxAttempts = 4

func (s *core) attemptTx(ctx context.Context, fn func(tx *txn) error) error {
	begin := s.begin
	if s.dialect == Postgres {
		begin = s.beginLazy
	}
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		if tx.failed != nil {
			// A statement failed when the rows held back were inserted
			// before it: that is the cause, not the statement's own error.
			return tx.failed
		}
		return err
	}
	return tx.Commit()
}

// transient reports whether err is PostgreSQL aborting a transaction that
// would succeed if run again: a deadlock victim or a serialization failure.
func transient(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// maxGroup bounds how many writes share one SQLite transaction.
const maxGroup = 256

// write is one caller's part of a group transaction.
type write struct {
	ctx  context.Context
	fn   func(tx *txn) error
	done chan error
}

// groupTx hands fn to the committer and waits for its commit.
func (s *core) groupTx(ctx context.Context, fn func(tx *txn) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return translate(ctx.Err())
	case <-s.closed:
		return tocsin.Errorf(tocsin.EUNAVAILABLE, "the database is closed")
	}
	// The write is committed or rolled back as a whole even if ctx ends
	// meanwhile, so wait for its outcome: the caller must know.
	return <-w.done
}

// committer runs queued writes, as many as are waiting, in one
// transaction. If the group fails, each write is retried in its own
// transaction, so one bad write cannot fail the others.
func (s *core) committer() {
	defer close(s.committerDone)
	for {
		var first *write
		select {
		case first = <-s.writes:
		case <-s.closed:
			return
		}
		group := []*write{first}
	drain:
		for len(group) < maxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break drain
			}
		}
		if len(group) > 1 && s.runGroup(group) == nil {
			for _, w := range group {
				w.done <- nil
			}
			continue
		}
		for _, w := range group {
			if err := w.ctx.Err(); err != nil {
				w.done <- translate(err)
				continue
			}
			w.done <- s.singleTx(context.WithoutCancel(w.ctx), w.fn)
		}
	}
}

func (s *core) runGroup(group []*write) error {
	ctx := context.Background()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	for _, w := range group {
		if w.ctx.Err() != nil {
			tx.Rollback()
			return w.ctx.Err()
		}
		if err := w.fn(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// newID returns a time-ordered unique id (UUIDv7).
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// micros converts a time to the stored unix-microsecond form.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts a stored time back, in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// translate maps driver errors to application errors: constraint
// violations to ECONFLICT, a value the database cannot store to EINVALID
// or ETOOLARGE, an unreachable or failing database — a connection dropped
// mid-request included — to EUNAVAILABLE (the caller should retry later).
// Codes are compared, never message strings.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var te *tocsin.Error
	if errors.As(err, &te) {
		return err
	}
	unavailable := &wrapped{code: tocsin.EUNAVAILABLE, msg: "The database is unavailable.", err: err}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &wrapped{code: tocsin.EUNAVAILABLE, msg: "The database did not answer in time.", err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return &wrapped{code: tocsin.ECONFLICT, msg: "Conflicting concurrent change.", err: err}
		case pe.Code == "23503":
			return &wrapped{code: tocsin.ECONFLICT, msg: "A referenced record changed concurrently.", err: err}
		case strings.HasPrefix(pe.Code, "22"), pe.Code == "23514":
			return &wrapped{code: tocsin.EINVALID, msg: "The request holds a value the database cannot store.", err: err}
		case pe.Code == "54000":
			return &wrapped{code: tocsin.ETOOLARGE, msg: "The request holds a value too large for the database.", err: err}
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"), pe.Code == "40001", pe.Code == "40P01":
			return unavailable
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			switch se.Code() {
			case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
				return &wrapped{code: tocsin.ECONFLICT, msg: "Conflicting concurrent change.", err: err}
			case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
				return &wrapped{code: tocsin.ECONFLICT, msg: "A referenced record changed concurrently.", err: err}
			case sqlite3.SQLITE_CONSTRAINT_CHECK:
				return &wrapped{code: tocsin.EINVALID, msg: "The request holds a value the database cannot store.", err: err}
			}
		case sqlite3.SQLITE_TOOBIG:
			return &wrapped{code: tocsin.ETOOLARGE, msg: "The request holds a value too large for the database.", err: err}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM:
			return unavailable
		}
		return err
	}
	// A connection that dies mid-request surfaces as database/sql's bad
	// connection, a closed or half-read connection, or a pgconn error that
	// says the statement never reached the server.
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return unavailable
	}
	return err
}

// alertError keeps the database's objection to a value from refusing an
// alert: for intake a 4xx tells the sender to drop it, so such an error
// (a bug: alerts are made valid before they are stored) is internal and
// the sender retries.
func alertError(err error) error {
	var w *wrapped
	if errors.As(err, &w) && (w.code == tocsin.EINVALID || w.code == tocsin.ETOOLARGE) {
		return &wrapped{code: tocsin.EINTERNAL, msg: "The alert could not be stored.", err: err}
	}
	return err
}

// wrapped carries an application code while keeping the driver error for
// logs (errors.As finds the *tocsin.Error through As).
type wrapped struct {
	code, msg string
	err       error
}

func (w *wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// As lets errors.As(err, **tocsin.Error) see the application code.
func (w *wrapped) As(target any) bool {
	if t, ok := target.(**tocsin.Error); ok {
		*t = &tocsin.Error{Code: w.code, Message: w.msg}
		return true
	}
	return false
}
