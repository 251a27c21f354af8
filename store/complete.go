package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"tocsin"
	"tocsin/response"
)

// maxCompleteBatch bounds the outcomes CompleteJobs records in one
// transaction (and its statements' placeholders).
const maxCompleteBatch = 64

// batchable reports whether an outcome can be recorded beside others in
// CompleteJobs: a job that is over (not re-armed or failed) whose outcome
// is events, a channel's reference and follow-up jobs. Stages, pages,
// contact notices and runbook steps lock and decide more; they are
// recorded one by one (CompleteJob).
func batchable(out tocsin.JobOutcome) bool {
	return out.Stage == nil && out.Page == nil && out.Notice == nil && out.Runbook == nil && out.RetryAt.IsZero() && !out.Failed
}

// CompleteJobs records the outcomes of many claimed jobs (outs[i] is
// jobs[i]'s) and returns each one's result as CompleteJob would: nil, or
// ECONFLICT for a job whose lease owner lost (nothing of its outcome is
// recorded). The finished jobs with plain outcomes (batchable) share one
// transaction: their incidents locked in id order (two instances' batches
// cannot deadlock each other, and each incident is locked before its job,
// as acknowledge and resolve do), the jobs deleted by one statement, their
// events and references inserted by the held-back multi-row statements.
// On PostgreSQL that is 5 round trips and one commit for the whole batch
// instead of 5 and one per job. Other outcomes, and every job of a batch
// whose transaction fails, are recorded one by one.
func (s *Jobs) CompleteJobs(ctx context.Context, owner string, jobs []*tocsin.Job, outs []tocsin.JobOutcome) []error {
	errs := make([]error, len(jobs))
	var batch []int
	for i := range jobs {
		if batchable(outs[i]) && len(batch) < maxCompleteBatch {
			batch = append(batch, i)
			continue
		}
		errs[i] = s.CompleteJob(ctx, jobs[i], owner, outs[i])
	}
	// Plain outcomes on PostgreSQL are one statement even alone: at a
	// steady rate most batches hold one job.
	onePlain := s.dialect == Postgres && allPlain(outs, batch)
	if len(batch) > 1 || (len(batch) == 1 && onePlain) {
		record := s.completeBatch
		if onePlain {
			record = s.completePlain
		}
		if lost, queued, err := record(ctx, owner, jobs, outs, batch); err == nil {
			for _, i := range batch {
				if lost[i] {
					errs[i] = leaseLost(jobs[i].ID)
				}
			}
			if queued {
				s.opts.Wake()
			}
			return errs
		}
	}
	// One job (not plain on PostgreSQL), or a batch rolled back as a whole:
	// each job alone, so one that cannot be recorded holds back nobody.
	for _, i := range batch {
		errs[i] = s.CompleteJob(ctx, jobs[i], owner, outs[i])
	}
	return errs
}

// completeBatch records the batch's outcomes in one transaction; lost
// names the jobs whose lease was lost, queued whether any outcome queued
// a job.
func (s *Jobs) completeBatch(ctx context.Context, owner string, jobs []*tocsin.Job, outs []tocsin.JobOutcome, batch []int) (lost map[int]bool, queued bool, err error) {
	now := s.opts.Now().UTC()
	err = s.tx(ctx, func(tx *txn) error {
		lost, queued = map[int]bool{}, false
		before := tx.queued
		var incidents []string
		seen := map[string]bool{}
		for _, i := range batch {
			if id := jobs[i].IncidentID; id != "" && !seen[id] {
				seen[id] = true
				incidents = append(incidents, id)
			}
		}
		sort.Strings(incidents)
		var status map[string]string
		var err error
		if len(incidents) > 0 {
			q := `SELECT id, status FROM incidents WHERE id IN (` + placeholders(1, len(incidents)) + `) ORDER BY id`
			if s.dialect == Postgres {
				q += ` FOR UPDATE`
			}
			if status, err = pairs(ctx, tx, q, anySlice(incidents)); err != nil {
				return fmt.Errorf("lock incidents: %w", err)
			}
		}
		ids := make([]any, 0, len(batch)+1)
		ids = append(ids, owner)
		for _, i := range batch {
			ids = append(ids, jobs[i].ID)
		}
		state, err := pairs(ctx, tx, `DELETE FROM jobs WHERE id IN (`+s.lockedJobs(2, len(batch))+`) RETURNING id, state`, ids)
		if err != nil {
			return fmt.Errorf("complete jobs: %w", err)
		}
		for _, i := range batch {
			j := jobs[i]
			st, ok := state[j.ID]
			if !ok {
				// Another worker took over an expired lease: record nothing.
				lost[i] = true
				continue
			}
			resolved := status[j.IncidentID] == tocsin.StatusResolved
			if err := recordOutcome(ctx, tx, j, outs[i], resolved, st == tocsin.JobCancelled, now); err != nil {
				return err
			}
		}
		queued = tx.queued > before
		return nil
	})
	return lost, queued, err
}

// plain reports whether out is recorded by completePlainQuery: events and
// a reference, which are kept even for a job cancelled while it ran
// (recordOutcome), and no follow-up jobs (not queued for a cancelled
// job). An on-call provider's reference saved on an incident resolved
// meanwhile queues its de-escalation, which the statement does too.
func plain(out tocsin.JobOutcome) bool {
	return batchable(out) && len(out.Next) == 0
}

// allPlain reports whether every outcome of the batch is plain.
func allPlain(outs []tocsin.JobOutcome, batch []int) bool {
	for _, i := range batch {
		if !plain(outs[i]) {
			return false
		}
	}
	return true
}

// completePlainQuery records a batch of plain outcomes on PostgreSQL in
// one statement, a transaction of its own: one round trip instead of
// completeBatch's five. Its text is the same for every batch (arrays, not
// lists), so it is prepared once. The incidents are locked first, in id
// order (the jobs' filter reads inc, an InitPlan run before the first job
// row is locked), then the jobs in id order, as in completeBatch; events
// and references are inserted only for the jobs deleted (a lost lease
// records nothing); an on-call reference that was saved (not already
// there) on an incident resolved meanwhile queues its de-escalation, as
// recordOutcome does: the resolve found no reference to resolve.
const completePlainQuery = `WITH inc AS (SELECT id, status FROM incidents WHERE id = ANY($2::text[]) ORDER BY id FOR UPDATE),
	del AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE lease_owner = $1 AND id = ANY($3::text[])
		AND (SELECT count(*) FROM inc) >= 0 ORDER BY id FOR UPDATE) RETURNING id),
	ev AS (INSERT INTO timeline (id, incident_id, at, kind, actor, message, data, refs, updated_at)
		SELECT e.id, e.incident_id, e.at, e.kind, e.actor, e.message, e.data, e.refs, e.updated_at
		FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[])
			AS e(job_id, id, incident_id, at, kind, actor, message, data, refs, updated_at)
		WHERE e.job_id IN (SELECT id FROM del)),
	rf AS (INSERT INTO channel_refs (incident_id, channel, ref)
		SELECT r.incident_id, r.channel, r.ref FROM unnest($14::text[], $15::text[], $16::text[], $17::text[]) AS r(job_id, incident_id, channel, ref)
		WHERE r.job_id IN (SELECT id FROM del) ON CONFLICT DO NOTHING RETURNING incident_id, channel),
	dq AS (INSERT INTO jobs (id, kind, lane, job_key, incident_id, args, due_at, created_at)
		SELECT d.id, d.kind, d.lane, d.job_key, d.incident_id, d.args, d.due_at, d.created_at
		FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::bigint[], $26::bigint[])
			AS d(incident_id, channel, id, kind, lane, job_key, args, due_at, created_at)
		JOIN rf ON rf.incident_id = d.incident_id AND rf.channel = d.channel
		JOIN inc ON inc.id = d.incident_id
		WHERE inc.status = 'resolved'
		ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO NOTHING RETURNING 1)
	SELECT id, (SELECT count(*) FROM dq) FROM del`

// completePlain records a batch of plain outcomes (allPlain) on
// PostgreSQL with completePlainQuery; lost names the jobs whose lease was
// lost, queued whether a de-escalation was queued.
func (s *Jobs) completePlain(ctx context.Context, owner string, jobs []*tocsin.Job, outs []tocsin.JobOutcome, batch []int) (lost map[int]bool, queued bool, err error) {
	now := s.opts.Now().UTC()
	var incidents, ids []string
	seen := map[string]bool{}
	var ev struct {
		job, id, incident, kind, actor, message []string
		at                                      []int64
		data, refs                              []*string
		updated                                 []*int64
	}
	var rf struct{ job, incident, channel, ref []string }
	var dq struct {
		incident, channel, id, kind, lane, args []string
		key                                     []*string
		due, created                            []int64
	}
	for _, i := range batch {
		j := jobs[i]
		ids = append(ids, j.ID)
		if j.IncidentID != "" && !seen[j.IncidentID] {
			seen[j.IncidentID] = true
			incidents = append(incidents, j.IncidentID)
		}
		for _, e := range outs[i].Events {
			outcomeEvent(e, j, now)
			ev.job, ev.id, ev.incident = append(ev.job, j.ID), append(ev.id, e.ID), append(ev.incident, e.IncidentID)
			ev.at, ev.kind, ev.actor = append(ev.at, micros(e.At)), append(ev.kind, validText(e.Kind)), append(ev.actor, validText(e.Actor))
			ev.message = append(ev.message, validText(e.Message))
			ev.data = append(ev.data, nullText(sql.NullString{String: string(e.Data), Valid: len(e.Data) > 0}))
			ev.refs = append(ev.refs, nullText(refsColumn(e.References)))
			var upd *int64
			if u := nullTimePtr(e.UpdatedAt); u.Valid {
				upd = &u.Int64
			}
			ev.updated = append(ev.updated, upd)
		}
		if r := outs[i].Ref; r != nil {
			rf.job, rf.incident = append(rf.job, j.ID), append(rf.incident, r.IncidentID)
			rf.channel, rf.ref = append(rf.channel, validText(r.Channel)), append(rf.ref, validText(r.Ref))
			if d := onCallDeescalation(r, now); d != nil {
				args := jobDefaults(d, now)
				dq.incident, dq.channel, dq.id = append(dq.incident, r.IncidentID), append(dq.channel, validText(r.Channel)), append(dq.id, d.ID)
				dq.kind, dq.lane, dq.args = append(dq.kind, d.Kind), append(dq.lane, d.Lane), append(dq.args, validText(args))
				dq.key = append(dq.key, nullText(nullString(d.Key)))
				dq.due, dq.created = append(dq.due, micros(d.DueAt)), append(dq.created, micros(now))
			}
		}
	}
	sort.Strings(incidents)
	type done struct {
		id     string
		queued int
	}
	rows, err := queryAll(ctx, dbReader{s.core}, completePlainQuery, []any{owner, incidents, ids,
		ev.job, ev.id, ev.incident, ev.at, ev.kind, ev.actor, ev.message, ev.data, ev.refs, ev.updated,
		rf.job, rf.incident, rf.channel, rf.ref,
		dq.incident, dq.channel, dq.id, dq.kind, dq.lane, dq.key, dq.args, dq.due, dq.created}, func(row scanner) (done, error) {
		var d done
		err := row.Scan(&d.id, &d.queued)
		return d, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("complete jobs: %w", err)
	}
	deleted := map[string]bool{}
	for _, d := range rows {
		deleted[d.id] = true
		queued = queued || d.queued > 0
	}
	lost = map[int]bool{}
	for _, i := range batch {
		if !deleted[jobs[i].ID] {
			lost[i] = true
		}
	}
	return lost, queued, nil
}

// onCallDeescalation is the de-escalation an on-call provider's reference
// queues when it is saved on a resolved incident; nil for other
// references.
func onCallDeescalation(r *tocsin.ChannelRef, now time.Time) *tocsin.Job {
	if !strings.HasPrefix(r.Channel, tocsin.OnCallRefChannel) {
		return nil
	}
	return response.Deescalate(r.IncidentID, r.Ref, now)
}

// nullText is a nullable text value as a pointer (an array element of a
// statement), its text made valid (validText).
func nullText(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	t := validText(v.String)
	return &t
}

// pairs runs a query of two text columns and maps the first to the second.
func pairs(ctx context.Context, q querier, query string, args []any) (map[string]string, error) {
	rows, err := queryAll(ctx, q, query, args, func(row scanner) ([2]string, error) {
		var p [2]string
		err := row.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(rows))
	for _, p := range rows {
		m[p[0]] = p[1]
	}
	return m, nil
}

// lockedJobs selects owner's ($1) jobs among n ids from $first on. On
// PostgreSQL it locks their rows in id order: ExtendLeases does too, so a
// batch's delete and a lease renewal of the same jobs cannot deadlock.
func (s *Jobs) lockedJobs(first, n int) string {
	q := `SELECT id FROM jobs WHERE lease_owner = $1 AND id IN (` + placeholders(first, n) + `)`
	if s.dialect == Postgres {
		q += ` ORDER BY id FOR UPDATE`
	}
	return q
}
