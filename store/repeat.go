package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"tocsin"
	"tocsin/response"
)

// repeat is an alert found, before the write transaction, to be a report
// that changes nothing: response decided only to record it again, and it
// says exactly what its stored row says.
type repeat struct {
	alertID, incidentID, hash string
	result                    tocsin.IngestResult
}

// findRepeats reads, outside any transaction, whether every alert of a
// request is such a repeat (Alertmanager's repeat_interval re-sends whole
// groups unchanged); nil when any is not, or when the request has effects
// of its own (an idempotency key, warnings for the timeline). The reads
// run on the pool's readers in parallel, so the write transaction, on
// SQLite one at a time, only checks and counts (countRepeats).
func (s *Incidents) findRepeats(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) []repeat {
	if opts.IdempotencyKey != "" || len(opts.Warnings) > 0 || len(alerts) == 0 {
		return nil
	}
	hashes := make([]string, len(alerts))
	for i, a := range alerts {
		last, ok := s.recent.get(a)
		if !ok {
			return nil // new, or not written lately: no hash or read to spend
		}
		labels, ann, links := alertJSON(a)
		if hashes[i] = contentHash(a, labels, ann, links, a.Raw); hashes[i] != last {
			return nil // changed since it was last written
		}
	}
	r := dbReader{s.core}
	now := s.opts.Now().UTC()
	rt, err := loadRouting(ctx, r, opts)
	if err != nil {
		return nil // the write transaction reads again and reports it
	}
	reps := make([]repeat, 0, len(alerts))
	for i, a := range alerts {
		in, hash, err := s.load(ctx, r, rt, a, now, opts)
		if err != nil || in.Known == nil || hash == "" {
			return nil
		}
		eff := response.Ingest(in)
		only := response.Effects{Result: eff.Result, Alert: response.AlertWrite{Op: response.AlertUpdate, ID: in.Known.ID, IncidentID: in.Incident.ID}}
		if !reflect.DeepEqual(eff, only) {
			return nil
		}
		if hashes[i] != hash {
			return nil
		}
		reps = append(reps, repeat{alertID: in.Known.ID, incidentID: in.Incident.ID, hash: hash, result: eff.Result})
	}
	return reps
}

// countRepeats records repeats found before the transaction, if they
// still are (their incidents open, their alerts unchanged): a count and a
// last-seen time, no payload. It reports false, having written nothing,
// when any changed meanwhile: the caller then ingests the alerts in full.
func countRepeats(ctx context.Context, tx *txn, reps []repeat) ([]tocsin.IngestResult, bool, error) {
	for _, r := range reps {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM alerts a JOIN incidents i ON i.id = a.incident_id
			WHERE a.id = $1 AND a.content_hash = $2 AND i.id = $3 AND i.status <> 'resolved'`, r.alertID, r.hash, r.incidentID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, nil
		} else if err != nil {
			return nil, false, fmt.Errorf("check repeat: %w", err)
		}
	}
	now := micros(tx.db.opts.Now())
	results := make([]tocsin.IngestResult, len(reps))
	for i, r := range reps {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET repeat_count = repeat_count + 1, last_seen_at = $1 WHERE id = $2 AND content_hash = $3`,
			now, r.alertID, r.hash)
		if err != nil {
			return nil, false, fmt.Errorf("count repeat: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// Changed between the check and the update (PostgreSQL, where
			// the check locks nothing): the transaction runs again.
			return nil, false, tocsin.Errorf(tocsin.ECONFLICT, "alert %s changed while its repeat was counted", r.alertID)
		}
		results[i] = r.result
	}
	return results, true, nil
}

// recentHashes remembers the content hash last written for recent alerts
// (by source, dedup key and fingerprint), so that only a report that may
// be a repeat pays for findRepeats' reads: a new alert costs a map look-up.
// It is a hint — a rolled-back write may leave one behind — and the reads
// decide.
type recentHashes struct {
	mu sync.Mutex
	m  map[string]string
}

// maxRecent bounds recentHashes; past it, it starts over.
const maxRecent = 8192

func recentKey(a *tocsin.Alert) string {
	return a.Source + "\x00" + a.DedupKey + "\x00" + a.Fingerprint
}

// get returns the hash last written for a's alert, if one is known.
func (r *recentHashes) get(a *tocsin.Alert) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.m[recentKey(a)]
	return h, ok
}

// put records the hash written for a's alert.
func (r *recentHashes) put(a *tocsin.Alert, hash string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= maxRecent {
		r.m = make(map[string]string, 256)
	}
	r.m[recentKey(a)] = hash
}
