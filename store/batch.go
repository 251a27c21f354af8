package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"tocsin"
)

// A write transaction holds back the rows of a few append-only tables
// (payloads, incidents, alerts, timeline events, jobs without a key, channel
// references) and inserts them with one
// multi-row statement per table when something else is about to run: any
// other statement of the transaction, and its commit. A group commit of
// 256 new-incident alerts then runs 4 inserts instead of 1,024 (SQLite
// spends most of an insert's time outside the b-tree: binding, the
// statement's start and end, database/sql's bookkeeping).
//
// Correctness rests on one rule: every statement the transaction runs
// through ExecContext, QueryContext or QueryRowContext first inserts what is
// held back, so it sees the rows and their foreign keys hold. Only reads
// that cannot touch a held-back row skip that (unflushed: the routing
// document, and findForAlert after it checked the held-back incidents and
// alerts itself).

// heldTable is a table whose inserts a transaction may hold back.
type heldTable struct {
	name string
	// cols is the column list; each row is len(cols) values.
	cols []string
	// order is the table's place in a flush: parents before the rows
	// whose foreign keys name them.
	order int
	// conflict ends the insert: a table whose row may already be there
	// (or held twice) keeps the first one.
	conflict string
}

var (
	heldPayloads  = &heldTable{name: "payloads", order: 0, cols: []string{"id", "body", "received_at"}}
	heldIncidents = &heldTable{name: "incidents", order: 1, cols: []string{"id", "title", "summary", "impact", "status", "source", "dedup_key",
		"labels", "created_at", "updated_at", "alert_count", "open_alert_count", "response_plan", "dedupe_string", "tags", "chat_channels"}}
	heldAlerts = &heldTable{name: "alerts", order: 2, cols: []string{"id", "incident_id", "payload_id", "source", "dedup_key", "fingerprint",
		"status", "severity", "title", "description", "labels", "annotations", "links", "starts_at", "ends_at", "received_at", "updated_at",
		"last_seen_at", "content_hash"}}
	heldTimeline = &heldTable{name: "timeline", order: 3, cols: []string{"id", "incident_id", "at", "kind", "actor", "message", "data", "refs", "updated_at"}}
	heldJobs     = &heldTable{name: "jobs", order: 4, cols: []string{"id", "kind", "lane", "job_key", "incident_id", "args", "due_at", "created_at"}}
	heldRefs     = &heldTable{name: "channel_refs", order: 5, cols: []string{"incident_id", "channel", "ref"}, conflict: " ON CONFLICT DO NOTHING"}
	heldTables   = [...]*heldTable{heldPayloads, heldIncidents, heldAlerts, heldTimeline, heldJobs, heldRefs}
)

// maxHeldRows bounds the rows of one multi-row statement: 256 alerts of 19
// columns are 4,864 parameters, well below SQLite's 32,766 and
// PostgreSQL's 65,535.
const maxHeldRows = 256

// held is what a transaction holds back: per table, the rows' values in
// order, and the keys findForAlert needs to know whether a held-back row
// could be the one it looks for.
type held struct {
	args      [len(heldTables)][]any
	rows      [len(heldTables)]int
	incidents []heldIncident
	alerts    []heldAlert
}

// heldIncident is what findForAlert matches an incident on.
type heldIncident struct{ source, dedupKey, dedupe string }

// heldAlert is what findForAlert matches an incident's alert on.
type heldAlert struct{ incidentID, fingerprint string }

// hold queues one row of t for the next flush; values are sanitised as
// every statement's arguments are.
func (t *txn) hold(tbl *heldTable, values ...any) {
	if len(values) != len(tbl.cols) {
		panic(fmt.Sprintf("store: %d values for the %d columns of %s", len(values), len(tbl.cols), tbl.name))
	}
	t.held.args[tbl.order] = append(t.held.args[tbl.order], validArgs(values)...)
	t.held.rows[tbl.order]++
	t.holding = true
}

// heldIncidentMatches reports whether an incident held back could be the
// one an alert with this source, keys and dedupe string joins.
func (t *txn) heldIncidentMatches(source, key, legacy, dedupe string) bool {
	for _, h := range t.held.incidents {
		if (dedupe != "" && h.dedupe == dedupe) || (h.source == source && (h.dedupKey == key || (legacy != "" && h.dedupKey == legacy))) {
			return true
		}
	}
	return false
}

// heldAlertMatches reports whether an alert held back is incident id's
// alert with this fingerprint.
func (t *txn) heldAlertMatches(incidentID, fingerprint string) bool {
	for _, h := range t.held.alerts {
		if h.incidentID == incidentID && h.fingerprint == fingerprint {
			return true
		}
	}
	return false
}

// flush inserts every row held back, parents first, in the transaction
// (begun first, if it has not).
func (t *txn) flush(ctx context.Context) error {
	if t.holding {
		if err := t.start(ctx); err != nil {
			return err
		}
	}
	return t.insertHeld(ctx)
}

// oneHeldStatement reports whether the rows held back are one statement
// on PostgreSQL (execHeldAll): then a transaction not begun yet sends it
// alone at commit (see txn).
func (t *txn) oneHeldStatement() bool {
	h := &t.held
	tables, size, rows := 0, 0, 0
	for i := range heldTables {
		if h.rows[i] > 0 {
			tables++
			rows = h.rows[i]
		}
		size += len(h.args[i])
	}
	if tables == 1 {
		return rows <= maxHeldRows
	}
	return size <= 65535
}

// insertHeld inserts every row held back, parents first, where the
// transaction's statements go (run).
func (t *txn) insertHeld(ctx context.Context) error {
	if t.failed != nil {
		return t.failed
	}
	if !t.holding {
		return nil
	}
	t.holding = false
	h := &t.held
	if t.db.dialect != SQLite {
		// One round trip for everything: each statement is one on
		// PostgreSQL, and a new incident holds back five rows of four or
		// five tables. A guessed new incident's rows go in the guarded
		// statement (guess.go).
		var err error
		if t.guess != nil {
			err = t.insertGuessed(ctx)
		} else {
			err = t.execHeldAll(ctx)
		}
		t.discard()
		if err != nil {
			t.failed = err
		}
		return err
	}
	for i, tbl := range heldTables {
		args, rows := h.args[i], h.rows[i]
		for rows > 0 {
			n := chunkRows(rows)
			k := n * len(tbl.cols)
			if err := t.execHeld(ctx, tbl, n, args[:k]); err != nil {
				t.discard()
				t.failed = err
				return err
			}
			args, rows = args[k:], rows-n
		}
	}
	t.discard()
	return nil
}

// discard forgets what is held back (after a flush or a rollback), keeping
// the buffers for the next rows.
func (t *txn) discard() {
	h := &t.held
	for i := range h.args {
		clear(h.args[i])
		h.args[i], h.rows[i] = h.args[i][:0], 0
	}
	h.incidents, h.alerts = h.incidents[:0], h.alerts[:0]
	t.holding = false
}

// chunkRows is how many of rows the next statement inserts: the largest
// power of two not above them (and maxHeldRows), so a few statement texts,
// each prepared once, cover every count.
func chunkRows(rows int) int {
	n := 1
	for n*2 <= rows && n*2 <= maxHeldRows {
		n *= 2
	}
	return n
}

func (t *txn) execHeld(ctx context.Context, tbl *heldTable, n int, args []any) error {
	q := heldInsert(tbl, n, t.db.dialect == SQLite)
	var err error
	if st := t.stmt(ctx, q); st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = t.run().ExecContext(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("insert %s: %w", tbl.name, err)
	}
	return nil
}

// execHeldAll inserts every held-back row in one statement, on
// PostgreSQL: the tables' inserts are data-modifying WITH queries of one
// statement, whose foreign keys are checked at its end. Beyond
// PostgreSQL's 65,535 parameters it goes table by table.
func (t *txn) execHeldAll(ctx context.Context) error {
	h := &t.held
	counts, args := t.heldArgs()
	tables := 0
	for _, c := range counts {
		if c > 0 {
			tables++
		}
	}
	if tables == 1 || len(args) > 65535 {
		for i, tbl := range heldTables {
			if err := t.execHeldTable(ctx, tbl, h.rows[i], h.args[i]); err != nil {
				return err
			}
		}
		return nil
	}
	q := heldCombined(counts)
	if _, err := t.run().ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("insert held rows: %w", err)
	}
	return nil
}

// heldArgs returns the rows held back per table and, after first, their
// values in table order: the parameters of one statement inserting them.
func (t *txn) heldArgs(first ...any) ([len(heldTables)]int, []any) {
	h := &t.held
	var counts [len(heldTables)]int
	size := len(first)
	for i := range heldTables {
		size += len(h.args[i])
	}
	args := append(make([]any, 0, size), first...)
	for i := range heldTables {
		counts[i] = h.rows[i]
		args = append(args, h.args[i]...)
	}
	return counts, args
}

// execHeldTable inserts rows of tbl on PostgreSQL, at most maxHeldRows a
// statement.
func (t *txn) execHeldTable(ctx context.Context, tbl *heldTable, rows int, args []any) error {
	for rows > 0 {
		n := min(rows, maxHeldRows)
		k := n * len(tbl.cols)
		if err := t.execHeld(ctx, tbl, n, args[:k]); err != nil {
			return err
		}
		args, rows = args[k:], rows-n
	}
	return nil
}

// heldCombined is PostgreSQL's one statement inserting counts[i] rows of
// each held table i (its parameters in table order).
func heldCombined(counts [len(heldTables)]int) string {
	if q, ok := heldTexts.Load(counts); ok {
		return q.(string)
	}
	var parts []string
	p := 0
	for i, tbl := range heldTables {
		if counts[i] > 0 {
			parts = append(parts, insertText(tbl, counts[i], false, &p))
		}
	}
	var b strings.Builder
	for i, part := range parts[:len(parts)-1] {
		if i == 0 {
			b.WriteString("WITH ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString("h" + strconv.Itoa(i) + " AS (" + part + ")")
	}
	b.WriteString(" " + parts[len(parts)-1])
	q := b.String()
	heldTexts.Store(counts, q)
	return q
}

// heldTexts caches the multi-row statements' texts by table and rows.
var heldTexts sync.Map

type heldKey struct {
	tbl   *heldTable
	rows  int
	plain bool
}

// heldInsert is the statement inserting n rows of tbl. SQLite's
// parameters are plain ? (bound by position: a numbered $1 is a named
// parameter there, looked up by name for every row's every value);
// PostgreSQL's are numbered.
func heldInsert(tbl *heldTable, n int, plain bool) string {
	k := heldKey{tbl, n, plain}
	if q, ok := heldTexts.Load(k); ok {
		return q.(string)
	}
	p := 0
	q := insertText(tbl, n, plain, &p)
	heldTexts.Store(k, q)
	return q
}

// insertText is an INSERT of n rows of tbl whose parameters are numbered
// from *p + 1 on (or plain ?).
func insertText(tbl *heldTable, n int, plain bool, p *int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + tbl.name + " (" + strings.Join(tbl.cols, ", ") + ") VALUES ")
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range tbl.cols {
			if c > 0 {
				b.WriteString(", ")
			}
			*p++
			if plain {
				b.WriteByte('?')
			} else {
				b.WriteString("$" + strconv.Itoa(*p))
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(tbl.conflict)
	return b.String()
}

// unflushed reads in the transaction without inserting what is held back
// first: only for reads of rows that are never held back, or after
// checking the held-back rows could not answer.
type unflushed struct{ t *txn }

// QueryRowContext runs a one-row read.
func (u unflushed) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return u.t.queryRow(ctx, query, args...)
}

// QueryContext runs a read.
func (u unflushed) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return u.t.query(ctx, query, args...)
}

// queueJob queues j as insertJob does; a job without a key (a
// notification: nothing can conflict with it) is held back for the
// multi-row insert, one with a key is inserted now, as whether it was
// queued depends on the keys already there.
func queueJob(ctx context.Context, tx *txn, j *tocsin.Job, now time.Time) error {
	if j.Key != "" {
		return insertJob(ctx, tx, j, now)
	}
	args := jobDefaults(j, now)
	tx.hold(heldJobs, j.ID, j.Kind, j.Lane, sql.NullString{}, nullString(j.IncidentID), args, micros(j.DueAt), micros(now))
	tx.queued++
	return nil
}
