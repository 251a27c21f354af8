package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tocsin"
)

// On PostgreSQL a new incident's alert costs two round trips: the
// open-incident look-up (findForAlert), then the held rows' one statement.
// The look-up is a third of intake's time there (the round trip's system
// calls on both sides, and the statement's start and end in PostgreSQL),
// and for an alert that opens an incident it finds nothing.
//
// So an alert whose key this instance has not seen lately (openKeys) is
// guessed to open a new incident: load skips the look-up and response
// decides on "none open", and the held rows go in one guarded statement
// (guardedText) whose every insert runs only if the guess holds when it
// runs — no open incident under the alert's key, its legacy key or its
// dedupe string, and the routing at the version the decision used. The
// statement answers whether it held; when it did not, it wrote nothing,
// and the ingest runs again with the look-up (errGuessWrong). Two guesses
// racing to open one incident meet at the unique indexes on open incidents'
// keys, as two look-ups racing do.
//
// A guessed transaction writes only through that statement: anything
// else that would begin it (a keyed job, a runbook) ends the guess before
// any statement is sent, and the ingest runs again with the look-up; so
// does a decision that opens no incident (a resolve: what it does depends
// on what is open). Only a request of one alert is guessed.

// errGuessWrong ends a transaction whose guess of a new incident was wrong
// or could not be kept to the guarded statement; nothing was written.
var errGuessWrong = errors.New("store: an alert guessed to open an incident did not")

// openGuess is a transaction's guess that an alert opens an incident: none
// is open under its source and key, legacy key or dedupe string, and the
// routing is at version.
type openGuess struct {
	source, key, legacy, dedupe string
	version                     int64
}

// openKeys (core.openKeys) remembers, by openKey, the alerts' keys this
// instance lately found or opened an incident under: an alert under such
// a key is looked up, not guessed.
type openKeys = hints[struct{}]

func openKey(source, key string) string { return source + "\x00" + key }

// guessNew reports whether the alert may be guessed to open an incident,
// and if so makes that the transaction's guess: only on PostgreSQL, as the
// transaction's first write, before it has begun, for a key this instance
// has not seen lately.
func (t *txn) guessNew(a *tocsin.Alert, dedupe string, version int64) bool {
	if t.db.dialect != Postgres || t.Tx != nil || t.holding || t.guess != nil || t.failed != nil {
		return false
	}
	if _, seen := t.db.openKeys.get(openKey(a.Source, a.DedupKey)); seen {
		return false
	}
	legacy := a.LegacyDedupKey
	if legacy == "" {
		legacy = a.DedupKey
	}
	t.guess = &openGuess{source: a.Source, key: a.DedupKey, legacy: legacy, dedupe: dedupe, version: version}
	t.db.guesses.Add(1)
	return true
}

// insertGuessed inserts the held rows in the guarded statement; errGuessWrong
// when the guess did not hold (nothing was written).
func (t *txn) insertGuessed(ctx context.Context) error {
	g := t.guess
	counts, args := t.heldArgs(g.source, g.key, g.legacy, g.dedupe, g.version)
	if len(args) > 65535 {
		return errGuessWrong
	}
	var held int
	if err := t.run().QueryRowContext(ctx, guardedText(counts), args...).Scan(&held); err != nil {
		return fmt.Errorf("insert held rows: %w", err)
	}
	// Held, or not (an incident was open, or the routing changed): the
	// next alert under the key is looked up.
	t.db.openKeys.put(openKey(g.source, g.key), struct{}{})
	if held == 0 {
		t.db.guessesWrong.Add(1)
		return errGuessWrong
	}
	return nil
}

// guardKey is guardedText's key in heldTexts.
type guardKey [len(heldTables)]int

// guardedText is the statement inserting counts[i] rows of each held table
// i only if an openGuess holds ($1 source, $2 key, $3 legacy key, $4 dedupe
// string, $5 routing version; then the rows' values in table order),
// answering 1 if it held and 0 if not. Each row is an insert of its own,
// SELECTed from the guard: PostgreSQL types a SELECT's parameters by the
// columns it inserts into only when it is one row.
func guardedText(counts [len(heldTables)]int) string {
	if q, ok := heldTexts.Load(guardKey(counts)); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(`WITH g AS (SELECT 1 WHERE
	NOT EXISTS (SELECT 1 FROM incidents WHERE source = $1 AND dedup_key = $2 AND status <> 'resolved')
	AND NOT EXISTS (SELECT 1 FROM incidents WHERE source = $1 AND dedup_key = $3 AND status <> 'resolved')
	AND NOT EXISTS (SELECT 1 FROM incidents WHERE dedupe_string = $4 AND dedupe_string <> '' AND status <> 'resolved')
	AND (SELECT version FROM routing_version WHERE id = 1) = $5)`)
	p, n := 5, 0
	for i, tbl := range heldTables {
		for r := 0; r < counts[i]; r++ {
			b.WriteString(", h" + strconv.Itoa(n) + " AS (INSERT INTO " + tbl.name + " (" + strings.Join(tbl.cols, ", ") + ") SELECT ")
			for c := range tbl.cols {
				if c > 0 {
					b.WriteString(", ")
				}
				p++
				b.WriteString("$" + strconv.Itoa(p))
			}
			b.WriteString(" FROM g" + tbl.conflict + ")")
			n++
		}
	}
	b.WriteString(" SELECT count(*) FROM g")
	q := b.String()
	heldTexts.Store(guardKey(counts), q)
	return q
}
