package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// insertJob queues a job in the caller's transaction. A job with a Key that
// is already pending is not queued twice.
func insertJob(ctx context.Context, tx *txn, j *tocsin.Job, now time.Time) error {
	if j.ID == "" {
		j.ID = newID()
	}
	if j.Lane == "" {
		j.Lane = j.Kind
	}
	args := string(j.Args)
	if args == "" {
		args = "{}"
	}
	j.CreatedAt = now
	if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, lane, job_key, incident_id, args, due_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO NOTHING`,
		j.ID, j.Kind, j.Lane, nullString(j.Key), nullString(j.IncidentID), args, micros(j.DueAt), micros(now)); err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	return nil
}

// ScheduleJob queues a job outside of any other change (a timer armed by a
// handler or a test).
func (s *DB) ScheduleJob(ctx context.Context, j *tocsin.Job) error {
	err := s.tx(ctx, func(tx *txn) error { return insertJob(ctx, tx, j, s.opts.Now().UTC()) })
	if err == nil {
		s.opts.Wake()
	}
	return err
}

// ClaimJobs leases up to limit due jobs to owner, oldest due first,
// skipping the lanes in busy. On PostgreSQL, SKIP LOCKED lets many
// instances claim at once without waiting on each other or taking the
// same row.
func (s *DB) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int, busy []string) ([]*tocsin.Job, error) {
	args := []any{owner, micros(now.Add(lease)), micros(now), limit}
	laneFilter := ""
	if len(busy) > 0 {
		ph := make([]string, len(busy))
		for i, l := range busy {
			args = append(args, l)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		laneFilter = " AND lane NOT IN (" + strings.Join(ph, ", ") + ")"
	}
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	q := `UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM jobs WHERE due_at <= $3 AND lease_until < $3` + laneFilter + ` ORDER BY due_at LIMIT $4` + lock + `)
		RETURNING id, kind, lane, job_key, incident_id, args, due_at, attempts, created_at, last_error`
	var jobs []*tocsin.Job
	err := s.tx(ctx, func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("claim jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j tocsin.Job
			var key, inc sql.NullString
			var args string
			var due, created int64
			if err := rows.Scan(&j.ID, &j.Kind, &j.Lane, &key, &inc, &args, &due, &j.Attempts, &created, &j.LastError); err != nil {
				return err
			}
			j.Key, j.IncidentID, j.Args = key.String, inc.String, json.RawMessage(args)
			j.DueAt, j.CreatedAt = fromMicros(due), fromMicros(created)
			jobs = append(jobs, &j)
		}
		return rows.Err()
	})
	return jobs, err
}

// CompleteJob finishes or re-arms a claimed job and records its outcome in
// the same transaction. It fails with ECONFLICT when the lease was lost.
func (s *DB) CompleteJob(ctx context.Context, j *tocsin.Job, owner string, out tocsin.JobOutcome) error {
	now := s.opts.Now().UTC()
	err := s.tx(ctx, func(tx *txn) error {
		var r sql.Result
		var err error
		if !out.RetryAt.IsZero() {
			r, err = tx.ExecContext(ctx, `UPDATE jobs SET due_at = $1, lease_owner = NULL, lease_until = 0, last_error = $2
				WHERE id = $3 AND lease_owner = $4`, micros(out.RetryAt), out.Error, j.ID, owner)
		} else {
			r, err = tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = $1 AND lease_owner = $2`, j.ID, owner)
		}
		if err != nil {
			return fmt.Errorf("complete job: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			// Another worker took over an expired lease, or the job was
			// cancelled (an acknowledged incident's timer): record nothing.
			return tocsin.Errorf(tocsin.ECONFLICT, "job %s is no longer leased to this worker", j.ID)
		}
		for _, e := range out.Events {
			if e.At.IsZero() {
				e.At = now
			}
			if err := insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		if out.Ref != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				out.Ref.IncidentID, out.Ref.Channel, out.Ref.Ref); err != nil {
				return fmt.Errorf("save channel ref: %w", err)
			}
		}
		for _, n := range out.Next {
			if err := insertJob(ctx, tx, n, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && (!out.RetryAt.IsZero() || len(out.Next) > 0) {
		s.opts.Wake()
	}
	return err
}

// ExtendLeases renews owner's leases on the jobs with the given ids.
func (s *DB) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{micros(until), owner}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = "$" + strconv.Itoa(len(args))
	}
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = $1 WHERE lease_owner = $2 AND id IN (`+strings.Join(ph, ", ")+`)`, args...)
		return err
	})
}

// releaseLeases frees every lease. Only safe when this process is the
// database's sole user: a SQLite file locked at Open.
func (s *DB) releaseLeases(ctx context.Context) error {
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL`)
		return err
	})
}

// NextDue returns the earliest due time among jobs not leased at now.
func (s *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(due_at) FROM jobs WHERE lease_until < $1`, micros(s.opts.Now())).Scan(&due); err != nil {
		return time.Time{}, false, translate(err)
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(due.Int64), true, nil
}

// PendingJobs counts unfinished jobs: the outbox depth plus armed timers.
func (s *DB) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n)
	return n, translate(err)
}

// LoadDelivery reads the incident (with its alerts), the alert that caused
// the event with its payload, and the channel's earlier reference.
func (s *DB) LoadDelivery(ctx context.Context, incidentID, alertID, channel string) (*tocsin.Delivery, error) {
	inc, err := scanIncident(s.db.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, incidentID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", incidentID)
	} else if err != nil {
		return nil, translate(err)
	}
	d := &tocsin.Delivery{Incident: inc}
	if inc.Alerts, err = s.incidentAlerts(ctx, incidentID); err != nil {
		return nil, err
	}
	if alertID == "" && len(inc.Alerts) > 0 {
		alertID = inc.Alerts[0].ID
	}
	for _, a := range inc.Alerts {
		if a.ID == alertID {
			d.Alert = a
		}
	}
	if d.Alert != nil {
		var body sql.NullString
		err := s.db.QueryRowContext(ctx, `SELECT p.body FROM alerts a JOIN payloads p ON p.id = a.payload_id WHERE a.id = $1`, alertID).Scan(&body)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, translate(err)
		}
		if body.Valid {
			d.Payload = json.RawMessage(body.String)
		}
	}
	err = s.db.QueryRowContext(ctx, `SELECT ref FROM channel_refs WHERE incident_id = $1 AND channel = $2`, incidentID, channel).Scan(&d.Ref)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, translate(err)
	}
	return d, nil
}

// Secret returns the named secret, creating a random 32-byte one on first
// use. All instances sharing the database see the same value.
func (s *DB) Secret(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if err == nil {
		return v, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return "", translate(err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	if err := s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, hex.EncodeToString(b))
		return err
	}); err != nil {
		return "", err
	}
	err = s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	return v, translate(err)
}
