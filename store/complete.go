package store

import (
	"context"
	"fmt"
	"sort"

	"tocsin"
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
	if len(batch) > 1 {
		if lost, queued, err := s.completeBatch(ctx, owner, jobs, outs, batch); err == nil {
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
	// One job, or a batch rolled back as a whole: each job alone, so one
	// that cannot be recorded holds back nobody.
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
