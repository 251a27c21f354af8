package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// jobDefaults gives a job about to be queued its defaults (an id, its kind
// as lane, its creation time) and returns its arguments as stored.
func jobDefaults(j *tocsin.Job, now time.Time) string {
	if j.ID == "" {
		j.ID = newID()
	}
	if j.Lane == "" {
		j.Lane = j.Kind
	}
	j.CreatedAt = now
	if len(j.Args) == 0 {
		return "{}"
	}
	return string(j.Args)
}

// insertJob queues a job in the caller's transaction. A job with a Key that
// is already pending is not queued twice.
func insertJob(ctx context.Context, tx *txn, j *tocsin.Job, now time.Time) error {
	args := jobDefaults(j, now)
	r, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, lane, job_key, incident_id, args, due_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO NOTHING`,
		j.ID, j.Kind, j.Lane, nullString(j.Key), nullString(j.IncidentID), args, micros(j.DueAt), micros(now))
	if err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	if n, _ := r.RowsAffected(); n > 0 {
		tx.queued++
	}
	return nil
}

// ScheduleJob queues a job outside of any other change (a timer armed by a
// handler or a test).
func (s *Jobs) ScheduleJob(ctx context.Context, j *tocsin.Job) error {
	err := s.tx(ctx, func(tx *txn) error { return insertJob(ctx, tx, j, s.opts.Now().UTC()) })
	if err == nil {
		s.opts.Wake()
	}
	return err
}

// ClaimJobs leases due jobs to c.Owner as c allows: only kinds and lanes
// the worker can run, and per lane no more than it can start now, so
// nothing claimed waits behind a busy lane with its lease running out. On
// PostgreSQL, SKIP LOCKED lets many instances claim at once without
// waiting on each other or taking the same row.
//
// A claim goes lane by lane, earliest due lane first: it finds the lanes
// holding pending jobs by skipping through an index (one seek a lane),
// before any write (a claim no lane can take ends there), passes over
// lanes without idle workers without reading their backlog,
// and takes each other lane's oldest due jobs up to its free slots. Its
// statements are fixed texts (the limit a literal from a small set), so
// SQLite prepares each once.
//
// Per incident and channel, notifications go out in the order they were
// queued: a notify job is not claimable while an older one of the same
// incident and lane is unfinished (a retry of "opened" holds back
// "resolved"). Delivering in order, rather than skipping a stale message,
// keeps chat threads right: the first message creates the thread or the
// reference later ones update, and every state change stays visible.
func (s *Jobs) ClaimJobs(ctx context.Context, c tocsin.JobClaim) ([]*tocsin.Job, error) {
	filter, fargs, ok := claimFilter(c, 4)
	if !ok || c.Limit <= 0 {
		return nil, nil
	}
	now := micros(c.Now)
	// The lanes holding due work are read before any write: when none of
	// them has an idle worker (a busy lane's finished job wakes the worker
	// often), the claim ends there, without a write transaction.
	due, err := dueLanes(ctx, dbReader{s.core}, now)
	if err != nil {
		return nil, err
	}
	lanes := due[:0]
	for _, lane := range due {
		if laneSlots(c, lane) > 0 {
			lanes = append(lanes, lane)
		}
	}
	// Jobs cancelled while a worker that has since died ran them: rare,
	// so looked for at most once a second of the claims' clock, not by
	// every claim.
	// Read first, so an idle instance's claims write nothing.
	last := s.swept.Load()
	sweep := now-last >= sweepEvery.Microseconds() || now < last
	if sweep {
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM jobs WHERE state = 'cancelled' AND lease_until < $1 LIMIT 1`, now).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			s.swept.Store(now)
			sweep = false
		case err != nil:
			return nil, translate(err)
		}
	}
	if len(lanes) == 0 && !sweep {
		return nil, nil
	}
	claim := func(r reader, lane string, n int) ([]*tocsin.Job, error) {
		args := append([]any{c.Owner, micros(c.Now.Add(c.Lease)), now, lane}, fargs...)
		return claimLane(ctx, r, s.claimQuery(filter, n), args)
	}
	if s.dialect == Postgres && len(lanes) == 1 && !sweep {
		// One lane's claim is one statement: a transaction of its own,
		// without BEGIN and COMMIT's round trips (a busy lane's freed
		// worker waits for this claim).
		jobs, err := claim(dbReader{s.core}, lanes[0], min(laneSlots(c, lanes[0]), c.Limit))
		return jobs, translate(err)
	}
	var jobs []*tocsin.Job
	err = s.tx(ctx, func(tx *txn) error {
		jobs = jobs[:0]
		if sweep {
			if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'cancelled' AND lease_until < $1`, now); err != nil {
				return fmt.Errorf("sweep cancelled jobs: %w", err)
			}
			s.swept.Store(now)
		}
		left := c.Limit
		for _, lane := range lanes {
			n := laneSlots(c, lane)
			if n = min(n, left); n <= 0 {
				continue
			}
			got, err := claim(tx, lane, n)
			if err != nil {
				return err
			}
			jobs = append(jobs, got...)
			if left -= len(got); left <= 0 {
				break
			}
		}
		return nil
	})
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].DueAt.Before(jobs[b].DueAt) })
	return jobs, err
}

// sweepEvery is how often claims delete the jobs cancelled while a dead
// worker ran them.
const sweepEvery = time.Second

// claimFilter is the condition on a job's kind and lane that c allows, its
// placeholders numbered from first; ok is false when c allows nothing. Its
// text depends only on c's kinds, lanes and whether stranded jobs are
// taken, all fixed for a worker, so the claim's statement stays the same.
func claimFilter(c tocsin.JobClaim, first int) (filter string, args []any, ok bool) {
	if c.Kinds == nil {
		return "", nil, true
	}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(first+len(args)) }
	list := func(vs []string) string {
		ph := make([]string, len(vs))
		for i, v := range vs {
			ph[i] = arg(v)
		}
		return strings.Join(ph, ", ")
	}
	var free, can []string
	if c.StrandedAfter > 0 && len(c.Kinds) > 0 {
		can = append(can, "(kind IN ("+list(c.Kinds)+") AND due_at <= "+arg(micros(c.Now.Add(-c.StrandedAfter)))+")")
	}
	for _, k := range c.Kinds {
		lanes, narrowed := c.Lanes[k]
		switch {
		case !narrowed:
			free = append(free, k)
		case len(lanes) > 0:
			can = append(can, "(kind = "+arg(k)+" AND lane IN ("+list(lanes)+"))")
		}
	}
	if len(free) > 0 {
		can = append(can, "kind IN ("+list(free)+")")
	}
	if len(can) == 0 {
		return "", nil, false
	}
	return " AND (" + strings.Join(can, " OR ") + ")", args, true
}

// laneSlots is how many jobs of lane c may start now.
func laneSlots(c tocsin.JobClaim, lane string) int {
	if n, ok := c.Slots[lane]; ok {
		return n
	}
	if c.DefaultSlots > 0 {
		return c.DefaultSlots
	}
	return c.Limit
}

// dueLanesQuery is dueLanes' statement.
const dueLanesQuery = `WITH RECURSIVE l(lane) AS (
			SELECT MIN(lane) FROM jobs WHERE state = 'pending'
			UNION ALL
			SELECT (SELECT MIN(j.lane) FROM jobs j WHERE j.state = 'pending' AND j.lane > l.lane) FROM l WHERE l.lane IS NOT NULL),
		d AS (SELECT lane, (SELECT MIN(j.due_at) FROM jobs j WHERE j.state = 'pending' AND j.lane = l.lane) AS due FROM l WHERE lane IS NOT NULL)
		SELECT lane FROM d WHERE due <= $1 ORDER BY due, lane`

// dueLanes returns the lanes holding a pending job due by now, earliest
// due first. The recursive query skips from lane to lane through
// jobs_lane_due (a loose index scan), so its cost grows with the number
// of lanes, not of jobs.
func dueLanes(ctx context.Context, r reader, now int64) ([]string, error) {
	rows, err := r.QueryContext(ctx, dueLanesQuery, now)
	if err != nil {
		return nil, fmt.Errorf("find due lanes: %w", err)
	}
	defer rows.Close()
	var lanes []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("find due lanes: %w", err)
		}
		lanes = append(lanes, l)
	}
	return lanes, rows.Err()
}

// notifyInOrder is the claim's rule that an incident's notifications in a
// lane run one at a time, in the order they were queued: a notify job j is
// claimable only when no earlier one of its incident and lane is unfinished
// (a retrying one included).
const notifyInOrder = `(j.kind <> 'notify' OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.incident_id = j.incident_id AND o.lane = j.lane
				AND o.kind = 'notify' AND o.state <> 'failed' AND (o.created_at < j.created_at OR (o.created_at = j.created_at AND o.id < j.id))))`

// claimQuery is the statement that leases up to n due jobs of one lane
// ($4) to $1 until $2, at $3, under filter.
func (s *Jobs) claimQuery(filter string, n int) string {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return `WITH cand AS (
			SELECT id FROM jobs j WHERE state = 'pending' AND lane = $4 AND due_at <= $3 AND lease_until < $3` + filter + `
			AND ` + notifyInOrder + `
			ORDER BY due_at, id LIMIT ` + strconv.Itoa(n) + lock + `)
		UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM cand)
		RETURNING id, kind, lane, job_key, incident_id, args, due_at, attempts, created_at, last_error`
}

// claimLane runs one lane's claim and reads the jobs it leased.
func claimLane(ctx context.Context, r reader, q string, args []any) ([]*tocsin.Job, error) {
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	defer rows.Close()
	var jobs []*tocsin.Job
	for rows.Next() {
		var j tocsin.Job
		var key, inc sql.NullString
		var args string
		var due, created int64
		if err := rows.Scan(&j.ID, &j.Kind, &j.Lane, &key, &inc, &args, &due, &j.Attempts, &created, &j.LastError); err != nil {
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		j.Key, j.IncidentID, j.Args = key.String, inc.String, json.RawMessage(args)
		j.DueAt, j.CreatedAt = fromMicros(due), fromMicros(created)
		jobs = append(jobs, &j)
	}
	return jobs, rows.Err()
}

// outcomeEvent fills what a job outcome's event leaves out: its time
// (now), its incident (the job's) and its id.
func outcomeEvent(e *tocsin.TimelineEvent, j *tocsin.Job, now time.Time) {
	if e.At.IsZero() {
		e.At = now
	}
	if e.IncidentID == "" {
		e.IncidentID = j.IncidentID
	}
	if e.ID == "" {
		e.ID = newID()
	}
}

const (
	// lockIncidentQuery reads and locks a job's incident (PostgreSQL).
	lockIncidentQuery = `SELECT status FROM incidents WHERE id = $1 FOR UPDATE`
	// deleteJobQuery deletes a finished job still leased to its owner.
	deleteJobQuery = `DELETE FROM jobs WHERE id = $1 AND lease_owner = $2 RETURNING state`
)

// CompleteJob finishes, re-arms or fails a claimed job and records its
// outcome in the same transaction: timeline events (on the job's incident
// unless they name one), the channel's reference, follow-up jobs, a stage
// of an engagement, a page's send result, a notice sent to a contact and
// a runbook step's result (the execution moved on, runbook_apply.go).
// It fails with ECONFLICT when the lease
// was lost. A job cancelled while it ran still has its outcome's events
// and reference recorded (a provider's incident opened by an escalation in
// flight must not be orphaned), but is not re-armed and queues nothing.
func (s *Jobs) CompleteJob(ctx context.Context, j *tocsin.Job, owner string, out tocsin.JobOutcome) error {
	now := s.opts.Now().UTC()
	// Whether the outcome queued or re-armed jobs: only then are workers
	// (other instances' too, on PostgreSQL) woken. The finishing worker
	// looks for its next job on its own.
	var queued bool
	err := s.tx(ctx, func(tx *txn) error {
		before := tx.queued
		defer func() { queued = tx.queued > before || !out.RetryAt.IsZero() }()
		// Lock the incident first, as acknowledge and resolve do before
		// they cancel its jobs: the job's state and the incident's status
		// read here then stay as they are until this commits.
		var status sql.NullString
		if j.IncidentID != "" {
			q := `SELECT status FROM incidents WHERE id = $1`
			if s.dialect == Postgres {
				q = lockIncidentQuery
			}
			if err := tx.QueryRowContext(ctx, q, j.IncidentID).Scan(&status); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("lock incident: %w", err)
			}
		}
		// A step's result locks its execution's scope before the job's
		// row, as a signal does before it cancels the step's job.
		if out.Runbook != nil {
			if err := s.run(ctx, tx, now).lockScope(out.Runbook.ExecutionID); err != nil && tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
				return err
			}
		}
		var state string
		var err error
		done := out.Stage == nil && out.RetryAt.IsZero() && !out.Failed
		if done {
			// The common outcome: the job is over whatever its state.
			err = tx.QueryRowContext(ctx, deleteJobQuery, j.ID, owner).Scan(&state)
		} else {
			err = tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = $1 AND lease_owner = $2`, j.ID, owner).Scan(&state)
		}
		if errors.Is(err, sql.ErrNoRows) {
			// Another worker took over an expired lease: record nothing.
			return leaseLost(j.ID)
		} else if err != nil {
			return fmt.Errorf("find job: %w", err)
		}
		cancelled := state == tocsin.JobCancelled
		if out.Stage != nil {
			// A stage gates its whole outcome: one already recorded, or
			// of an engagement stopped meanwhile, records nothing.
			ran := false
			if !cancelled {
				if ran, err = s.applyStage(ctx, tx, j.IncidentID, out.Stage, now); err != nil {
					return err
				}
			}
			if !ran {
				out = tocsin.JobOutcome{}
			}
		}
		switch {
		case done:
		case cancelled || (out.RetryAt.IsZero() && !out.Failed):
			_, err = tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = $1`, j.ID)
		case !out.RetryAt.IsZero():
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET due_at = $1, lease_owner = NULL, lease_until = 0, last_error = $2 WHERE id = $3`,
				micros(out.RetryAt), out.Error, j.ID)
		default:
			// A failed job keeps no key: keys are unique among pending jobs
			// only, and a new timer of the same key may be armed meanwhile.
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', job_key = NULL, lease_owner = NULL, lease_until = 0, last_error = $1 WHERE id = $2`,
				out.Error, j.ID)
		}
		if err != nil {
			return fmt.Errorf("complete job: %w", err)
		}
		if err := recordOutcome(ctx, tx, j, out, status.String == tocsin.StatusResolved, cancelled, now); err != nil {
			return err
		}
		return s.advanceRunbook(ctx, tx, out.Runbook, now)
	})
	if err == nil && queued {
		s.opts.Wake()
	}
	return err
}

// leaseLost is the ECONFLICT of a completion whose job another worker took
// over after its lease expired.
func leaseLost(id string) error {
	return tocsin.Errorf(tocsin.ECONFLICT, "job %s is no longer leased to this worker", id)
}

// recordOutcome records what a job did, in the transaction of its
// completion: a page's result, a contact's notice, timeline events, the
// channel's reference and, unless the job was cancelled while it ran, its
// follow-up jobs. resolved says the job's incident is resolved.
func recordOutcome(ctx context.Context, tx *txn, j *tocsin.Job, out tocsin.JobOutcome, resolved, cancelled bool, now time.Time) error {
	if out.Page != nil {
		if err := applyPage(ctx, tx, out.Page, now); err != nil {
			return err
		}
	}
	if out.Notice != nil {
		if err := insertNotice(ctx, tx, j, out.Notice, now); err != nil {
			return err
		}
	}
	for _, e := range out.Events {
		outcomeEvent(e, j, now)
		if err := insertEvent(ctx, tx, e); err != nil {
			return err
		}
	}
	switch {
	case out.Ref == nil:
	case !resolved || !strings.HasPrefix(out.Ref.Channel, tocsin.OnCallRefChannel):
		// Nothing depends on whether it was saved: held back for the
		// transaction's multi-row insert (the first reference stays).
		tx.hold(heldRefs, out.Ref.IncidentID, out.Ref.Channel, out.Ref.Ref)
	default:
		r, err := tx.ExecContext(ctx, `INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			out.Ref.IncidentID, out.Ref.Channel, out.Ref.Ref)
		if err != nil {
			return fmt.Errorf("save channel ref: %w", err)
		}
		// A resolve that committed while the provider was being called
		// found no reference to resolve: resolve it there now.
		if n, _ := r.RowsAffected(); n == 1 {
			if d := onCallDeescalation(out.Ref, now); d != nil {
				if err := insertJob(ctx, tx, d, now); err != nil {
					return err
				}
			}
		}
	}
	if cancelled {
		return nil
	}
	for _, n := range out.Next {
		if err := insertJob(ctx, tx, n, now); err != nil {
			return err
		}
	}
	return nil
}

// insertNotice records a notice on its contact's record, once per job.
func insertNotice(ctx context.Context, tx *txn, j *tocsin.Job, n *tocsin.ContactNotice, now time.Time) error {
	status := n.Status
	if status == "" {
		status = tocsin.NoticeSent
	}
	kind := n.Kind
	if kind == "" {
		kind = j.Kind
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO contact_notices (id, contact_alias, channel_name, kind, text, status, error, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		j.ID, n.Contact, n.Channel, kind, n.Text, status, n.Error, micros(now)); err != nil {
		return fmt.Errorf("record notice: %w", err)
	}
	return nil
}

// ReleaseJobs hands owner's jobs back unfinished: they are due again at
// once for any worker, and the interrupted attempt does not count.
func (s *Jobs) ReleaseJobs(ctx context.Context, owner string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := append([]any{owner}, anySlice(ids)...)
	in := placeholders(2, len(ids))
	err := s.tx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'cancelled' AND lease_owner = $1 AND id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("drop cancelled jobs: %w", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = NULL, lease_until = 0,
			attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE lease_owner = $1 AND id IN (`+in+`)`, args...)
		if err != nil {
			return fmt.Errorf("release jobs: %w", err)
		}
		return nil
	})
	if err == nil {
		s.opts.Wake()
	}
	return err
}

// ExtendLeases renews owner's leases on the jobs with the given ids.
func (s *Jobs) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := append([]any{owner, micros(until)}, anySlice(ids)...)
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = $2 WHERE id IN (`+s.lockedJobs(3, len(ids))+`)`, args...)
		return err
	})
}

// releaseLeases frees every lease. Only safe when this process is the
// database's sole user: a SQLite file locked at Open.
func (s *core) releaseLeases(ctx context.Context) error {
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL`)
		return err
	})
}

// nextDueQuery is NextDue's statement.
const nextDueQuery = `WITH RECURSIVE l(lane) AS (
			SELECT MIN(lane) FROM jobs WHERE state = 'pending'
			UNION ALL
			SELECT (SELECT MIN(j.lane) FROM jobs j WHERE j.state = 'pending' AND j.lane > l.lane) FROM l WHERE l.lane IS NOT NULL)
		SELECT MIN((SELECT j.due_at FROM jobs j WHERE j.state = 'pending' AND j.lane = l.lane AND j.lease_until < $1 ORDER BY j.due_at LIMIT 1))
		FROM l WHERE l.lane IS NOT NULL`

// NextDue returns the earliest due time among jobs not leased at now. Like
// dueLanes it skips from lane to lane through jobs_lane_due and reads each
// lane's pending jobs in due order only until one is not leased: its cost
// grows with the lanes and the jobs running, not with the backlog.
func (s *Jobs) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	if err := s.queryRow(ctx, nextDueQuery, micros(s.opts.Now())).Scan(&due); err != nil {
		return time.Time{}, false, translate(err)
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(due.Int64), true, nil
}

// DueJobs counts, up to limit, the jobs of a lane a claim could take now:
// due, not leased, and (notifications) first in their incident's order —
// how far behind the lane is, for intake's pacing (engine.Pacer). Jobs
// that wait for an earlier notification of their incident (one retrying
// through an outage) are not counted: no speed would run them sooner. It
// reads at most about limit entries of jobs_lane_due, however deep the
// backlog.
func (s *Jobs) DueJobs(ctx context.Context, lane string, limit int) (int, error) {
	var n int
	err := s.queryRow(ctx, dueJobsQuery(limit), lane, micros(s.opts.Now())).Scan(&n)
	return n, translate(err)
}

// dueJobsQuery is DueJobs' statement; the limit is written in (a bound
// LIMIT makes SQLite parse the statement again on every run).
func dueJobsQuery(limit int) string {
	return `SELECT COUNT(*) FROM (SELECT 1 FROM jobs j WHERE state = 'pending' AND lane = $1 AND due_at <= $2 AND lease_until < $2
			AND ` + notifyInOrder + ` LIMIT ` + strconv.Itoa(max(limit, 0)) + `) d`
}

// PendingJobs counts unfinished jobs: the outbox depth plus armed timers
// (failed deliveries waiting for a redelivery are not counted).
func (s *Jobs) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state <> 'failed'`).Scan(&n)
	return n, translate(err)
}

// OverdueAfter is how late a due job must be to count as overdue in
// JobStats.
const OverdueAfter = time.Minute

// JobStats describes the queue per job kind, for metrics.
func (s *Jobs) JobStats(ctx context.Context) ([]tocsin.JobKindStats, error) {
	now := s.opts.Now()
	rows, err := s.db.QueryContext(ctx, `SELECT kind,
		SUM(CASE WHEN state <> 'failed' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'pending' AND attempts > 0 AND lease_owner IS NULL THEN 1 ELSE 0 END),
		MIN(CASE WHEN state = 'pending' AND attempts > 0 AND lease_owner IS NULL THEN created_at END),
		SUM(CASE WHEN state = 'pending' AND due_at < $1 AND lease_until < $2 THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END)
		FROM jobs GROUP BY kind ORDER BY kind`, micros(now.Add(-OverdueAfter)), micros(now))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []tocsin.JobKindStats
	for rows.Next() {
		var st tocsin.JobKindStats
		var oldest sql.NullInt64
		if err := rows.Scan(&st.Kind, &st.Pending, &st.Retrying, &oldest, &st.Overdue, &st.Failed); err != nil {
			return nil, translate(err)
		}
		if oldest.Valid {
			st.OldestRetry = fromMicros(oldest.Int64)
		}
		out = append(out, st)
	}
	return out, translate(rows.Err())
}

// Redeliver queues an incident's failed deliveries again (only those to
// channel, a channel or on-call provider name, when it is not empty), due
// now with their attempts reset, and records who asked on the timeline.
// It returns how many were queued; ENOTFOUND when there were none.
func (s *Incidents) Redeliver(ctx context.Context, incidentID, channel string, by tocsin.Actor) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *txn) error {
		if err := mustExist(ctx, tx, incidentID); err != nil {
			return err
		}
		now := s.opts.Now().UTC()
		q := `UPDATE jobs SET state = 'pending', attempts = 0, due_at = $1, last_error = '' WHERE incident_id = $2 AND state = 'failed'`
		args := []any{micros(now), incidentID}
		if channel != "" {
			q += ` AND lane IN ($3, $4)`
			args = append(args, tocsin.NotifyLane(channel), tocsin.EscalateLane(channel))
		}
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("requeue failed deliveries: %w", err)
		}
		if n, _ = r.RowsAffected(); n == 0 {
			if channel != "" {
				return tocsin.Errorf(tocsin.ENOTFOUND, "incident %q has no failed delivery to channel %q", incidentID, channel)
			}
			return tocsin.Errorf(tocsin.ENOTFOUND, "incident %q has no failed delivery", incidentID)
		}
		msg := fmt.Sprintf("Redelivery of %d failed deliver%s requested by %s", n, map[bool]string{true: "y", false: "ies"}[n == 1], by.String())
		if channel != "" {
			msg += " (" + channel + ")"
		}
		return addEvent(ctx, tx, incidentID, now, tocsin.EventRedelivery, by.String(), msg, map[string]any{"channel": channel, "count": n})
	})
	if err != nil {
		return 0, err
	}
	s.opts.Wake()
	return int(n), nil
}

// loadDeliveryQuery is LoadDelivery's query: the incident (and the
// channel's reference) beside each of its alerts, the payload joined to
// the one that caused the event. Built once: its text is the statement
// cache's key.
var loadDeliveryQuery = `SELECT ` + qualify(incidentColumns, "i") + `,
		(SELECT ref FROM channel_refs r WHERE r.incident_id = i.id AND r.channel = $2), ` + alertColumnsOf("a") + `, p.body
		FROM incidents i JOIN alerts a ON a.incident_id = i.id
		LEFT JOIN payloads p ON p.id = a.payload_id
			AND a.id = COALESCE(NULLIF($3, ''), (SELECT f.id FROM alerts f WHERE f.incident_id = $1 ORDER BY f.received_at, f.id LIMIT 1))
		WHERE i.id = $1 ORDER BY a.received_at, a.id`

// LoadDelivery reads the incident (with its alerts), the alert that caused
// the event (the first one when alertID is empty) with its payload, and
// the channel's earlier reference, in one prepared query (a second one for
// an incident without alerts).
func (s *Incidents) LoadDelivery(ctx context.Context, incidentID, alertID, channel string) (*tocsin.Delivery, error) {
	rows, err := s.query(ctx, loadDeliveryQuery, incidentID, channel, alertID)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var d *tocsin.Delivery
	for rows.Next() {
		var ir incidentRow
		var ar alertRow
		var ref, body sql.NullString
		if err := rows.Scan(append(append(ir.dests(), &ref), append(ar.dests(), &body)...)...); err != nil {
			return nil, translate(err)
		}
		if d == nil {
			d = &tocsin.Delivery{Incident: ir.incident(), Ref: ref.String}
		}
		a := ar.alert()
		d.Incident.Alerts = append(d.Incident.Alerts, a)
		if a.ID == alertID || (alertID == "" && d.Alert == nil) {
			d.Alert = a
			if body.Valid {
				d.Payload = json.RawMessage(body.String)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	if d != nil {
		return d, nil
	}
	// An incident without alerts (opened through the API).
	var ref sql.NullString
	inc, err := scanIncident(s.queryRow(ctx, `SELECT `+incidentColumns+`,
		(SELECT ref FROM channel_refs r WHERE r.incident_id = incidents.id AND r.channel = $2)
		FROM incidents WHERE id = $1`, incidentID, channel), &ref)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", incidentID)
	} else if err != nil {
		return nil, translate(err)
	}
	return &tocsin.Delivery{Incident: inc, Ref: ref.String}, nil
}

// maxLoadDeliveries bounds the notifications LoadDeliveries reads in one
// query (and its placeholders).
const maxLoadDeliveries = 128

// loadDeliveriesQueries are LoadDeliveries' queries on SQLite by the
// power of two of their incidents: lists are padded to the next one
// (repeating an id changes no answer), so the statement cache holds eight
// texts, not one per list length.
var loadDeliveriesQueries = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= maxLoadDeliveries; n *= 2 {
		m[n] = loadDeliveriesSelect + `LEFT JOIN payloads p ON p.id = a.payload_id AND (a.id IN (` + placeholders(2+n, n) + `)
			OR (i.id IN (` + placeholders(2+2*n, n) + `) AND a.id = ` + firstAlert + `))
		WHERE i.id IN (` + placeholders(2, n) + `) ORDER BY i.id, a.received_at, a.id`
	}
	return m
}()

// firstAlert is the id of incident i's first alert, whose payload a
// notification without an alert id carries (as LoadDelivery's).
const firstAlert = `(SELECT f.id FROM alerts f WHERE f.incident_id = i.id ORDER BY f.received_at, f.id LIMIT 1)`

// loadDeliveriesSelect is the part of LoadDeliveries' query before its
// lists.
var loadDeliveriesSelect = `SELECT ` + qualify(incidentColumns, "i") + `,
		(SELECT ref FROM channel_refs r WHERE r.incident_id = i.id AND r.channel = $1), ` + alertColumnsOf("a") + `, p.body
		FROM incidents i JOIN alerts a ON a.incident_id = i.id
		`

// loadDeliveriesPostgres is LoadDeliveries' query on PostgreSQL: arrays,
// so one text for every list, planned as a loop over the incidents. A join
// is estimated from statistics that a fast-growing table lacks (new rows
// of the last minute): for 32 incidents PostgreSQL chose to scan every
// alert and every payload (9.9 ms at 20,000 incidents, more than the reads
// it saved); OFFSET 0 keeps the alerts a per-incident index read and the
// payload is a per-row lookup (0.7 ms).
var loadDeliveriesPostgres = `SELECT ` + qualify(incidentColumns, "i") + `,
		(SELECT ref FROM channel_refs r WHERE r.incident_id = i.id AND r.channel = $1), ` + alertColumnsOf("a") + `,
		(SELECT p.body FROM payloads p WHERE p.id = a.payload_id AND (a.id = ANY($3::text[])
			OR (i.id = ANY($4::text[]) AND a.id = ` + firstAlert + `)))
		FROM incidents i CROSS JOIN LATERAL (SELECT * FROM alerts WHERE alerts.incident_id = i.id OFFSET 0) a
		WHERE i.id = ANY($2::text[]) ORDER BY i.id, a.received_at, a.id`

// LoadDeliveries reads what LoadDelivery does for many notifications of
// one channel in one query (per 128): out[i] is what LoadDelivery would
// answer for incidentIDs[i] and alertIDs[i] (an empty one: the first
// alert, with its payload), or nil where this read does not answer and the
// caller loads it alone — an incident without alerts or gone.
func (s *Incidents) LoadDeliveries(ctx context.Context, channel string, incidentIDs, alertIDs []string) ([]*tocsin.Delivery, error) {
	out := make([]*tocsin.Delivery, len(incidentIDs))
	for start := 0; start < len(incidentIDs); start += maxLoadDeliveries {
		end := min(start+maxLoadDeliveries, len(incidentIDs))
		if err := s.loadDeliveries(ctx, channel, incidentIDs[start:end], alertIDs[start:end], out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadDeliveries is one query of LoadDeliveries, into out.
func (s *Incidents) loadDeliveries(ctx context.Context, channel string, incidentIDs, alertIDs []string, out []*tocsin.Delivery) error {
	want := map[string][]int{} // incident id → the notifications of it
	var incs, alerts, firsts []string
	for i, id := range incidentIDs {
		if want[id] == nil {
			incs = append(incs, id)
		}
		want[id] = append(want[id], i)
		if alertIDs[i] == "" {
			firsts = append(firsts, id)
		} else {
			alerts = append(alerts, alertIDs[i])
		}
	}
	if len(incs) == 0 {
		return nil
	}
	var rows *sql.Rows
	var err error
	if s.dialect == Postgres {
		rows, err = s.query(ctx, loadDeliveriesPostgres, channel, incs, alerts, firsts)
	} else {
		n := 1
		for n < max(len(incs), len(alerts), len(firsts)) {
			n *= 2
		}
		args := []any{channel}
		// Padded with an id the list has (or none has: ""), which
		// changes no answer.
		for _, l := range [][]string{incs, alerts, firsts} {
			pad := ""
			if len(l) > 0 {
				pad = l[0]
			}
			for len(l) < n {
				l = append(l, pad)
			}
			args = append(args, anySlice(l)...)
		}
		rows, err = s.query(ctx, loadDeliveriesQueries[n], args...)
	}
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ir incidentRow
		var ar alertRow
		var ref, body sql.NullString
		if err := rows.Scan(append(append(ir.dests(), &ref), append(ar.dests(), &body)...)...); err != nil {
			return translate(err)
		}
		// Each notification has its own copy: handlers run concurrently.
		for _, i := range want[ir.inc.ID] {
			d := out[i]
			if d == nil {
				d = &tocsin.Delivery{Incident: ir.incident(), Ref: ref.String}
				out[i] = d
			}
			a := ar.alert()
			d.Incident.Alerts = append(d.Incident.Alerts, a)
			if a.ID == alertIDs[i] || (alertIDs[i] == "" && d.Alert == nil) {
				d.Alert = a
				if body.Valid {
					d.Payload = json.RawMessage(body.String)
				}
			}
		}
	}
	return translate(rows.Err())
}
