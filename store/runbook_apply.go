package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"tocsin"
	"tocsin/runbook"
)

// MaxRunbookDepth bounds nested executions (aws:executeAutomation): an
// execution started by hand or by a response plan is at depth 1, and a
// child deeper than this is refused (its parent's step fails).
const MaxRunbookDepth = 5

// maxApplyLevel bounds how deep the effects of one decision lead to
// others in one transaction (children started, cancelled or ended, each
// telling its parent): MaxRunbookDepth bounds it already; this guards
// against a decision that keeps answering another.
const maxApplyLevel = 4 * MaxRunbookDepth

// runner applies runbook decisions in one transaction: it loads each
// decision's input (the execution locked on PostgreSQL, its document copy,
// its incident), calls runbook/ and writes the effects, following
// children, cancellations and ends to the executions they concern.
type runner struct {
	ctx       context.Context
	tx        *txn
	dialect   string
	now       time.Time
	incidents map[string]*tocsin.Incident
}

func (s *core) run(ctx context.Context, tx *txn, now time.Time) *runner {
	return &runner{ctx: ctx, tx: tx, dialect: s.dialect, now: now, incidents: map[string]*tocsin.Incident{}}
}

// startError is why an execution could not start (no such runbook,
// parameters that do not type, no such incident, nested too deep, the
// machine's refusal), found before anything was written: a response
// plan's incident opens anyway, and a parent's step fails.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// startSpec is an execution to start.
type startSpec struct {
	ID         string
	Runbook    string
	Version    int // 0: the latest
	Parameters map[string][]string
	IncidentID string
	By         string
	ParentID   string
	ParentStep int
}

// lockSuffix locks the rows a query reads until the commit, on
// PostgreSQL (SQLite's one writer serialises transactions anyway).
func (r *runner) lockSuffix() string {
	if r.dialect == Postgres {
		return ` FOR UPDATE`
	}
	return ""
}

// lockIncident locks an incident as acknowledge, resolve and CompleteJob
// do, first: an execution's writes (its timeline) then never wait on a
// transaction that waits on them. ENOTFOUND when there is none.
func (r *runner) lockIncident(id string) error {
	var one int
	err := r.tx.QueryRowContext(r.ctx, `SELECT 1 FROM incidents WHERE id = $1`+r.lockSuffix(), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	} else if err != nil {
		return fmt.Errorf("lock incident: %w", err)
	}
	return nil
}

// lockExecution loads an execution with its steps and document, locked
// (its scope first, lockScope) until the commit; ENOTFOUND when there is
// none.
func (r *runner) lockExecution(id string) (*tocsin.RunbookExecution, *runbook.Document, error) {
	if err := r.lockScope(id); err != nil {
		return nil, nil, err
	}
	return loadExecution(r.ctx, r.tx, id, r.lockSuffix())
}

// lockScope takes the lock that every write of an execution takes before
// any other row: its incident's, or for an execution without an incident
// the root of its nested executions. The execution's own row, its
// parent's or child's and its jobs' are then locked in whatever order a
// decision needs, without a cycle (a cancel locks the parent then the
// child and a child's end the child then the parent; a signal locks the
// execution then its jobs and CompleteJob the job then the execution).
// ENOTFOUND when there is no such execution.
func (r *runner) lockScope(id string) error {
	for depth := 0; ; depth++ {
		var inc, parent sql.NullString
		err := r.tx.QueryRowContext(r.ctx, `SELECT incident_id, parent_id FROM runbook_executions WHERE id = $1`, id).Scan(&inc, &parent)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "runbook execution %q not found", id)
		} else if err != nil {
			return fmt.Errorf("find runbook execution: %w", err)
		}
		if inc.Valid {
			return r.lockIncident(inc.String)
		}
		if !parent.Valid || parent.String == "" || depth > MaxRunbookDepth {
			var one int
			if err := r.tx.QueryRowContext(r.ctx, `SELECT 1 FROM runbook_executions WHERE id = $1`+r.lockSuffix(), id).Scan(&one); err != nil {
				return fmt.Errorf("lock runbook execution: %w", err)
			}
			return nil
		}
		id = parent.String
	}
}

// context is what an execution's decisions may read besides the
// execution: its incident (nil without one) and the store's ids.
func (r *runner) context(incidentID string) (runbook.Context, error) {
	c := runbook.Context{NewID: newID}
	if incidentID == "" {
		return c, nil
	}
	if inc, ok := r.incidents[incidentID]; ok {
		c.Incident = inc
		return c, nil
	}
	inc, err := scanIncident(r.tx.QueryRowContext(r.ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, incidentID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", incidentID)
	} else if err != nil {
		return c, fmt.Errorf("find incident: %w", err)
	}
	r.incidents[incidentID] = inc
	c.Incident = inc
	return c, nil
}

// start starts an execution of sp's runbook version: its parameters typed
// by runbook.Params, its first step decided by runbook.Start, the
// effects applied. Refusals are *startError, returned before anything is
// written.
func (r *runner) start(sp startSpec, level int) (*tocsin.RunbookExecution, error) {
	rb, err := findRunbook(r.ctx, r.tx, sp.Runbook, sp.Version)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil, &startError{err}
	} else if err != nil {
		return nil, err
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		return nil, &startError{fmt.Errorf("runbook %s version %d: %w", rb.Name, rb.Version, err)}
	}
	params, err := runbook.Params(doc, sp.Parameters)
	if err != nil {
		return nil, &startError{fmt.Errorf("runbook %s: %w", rb.Name, err)}
	}
	c, err := r.context(sp.IncidentID)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil, &startError{err}
	} else if err != nil {
		return nil, err
	}
	exec := &tocsin.RunbookExecution{ID: sp.ID, IncidentID: sp.IncidentID, Runbook: rb.Name, Version: rb.Version,
		ParentID: sp.ParentID, ParentStep: sp.ParentStep, Status: tocsin.RunbookPending, Parameters: params,
		StartedBy: sp.By, StartedAt: r.now}
	eff, err := runbook.Start(doc, exec, c, r.now)
	if err != nil {
		return nil, &startError{fmt.Errorf("runbook %s: %w", rb.Name, err)}
	}
	if eff.Execution == nil {
		return nil, tocsin.Errorf(tocsin.EINTERNAL, "runbook %s: the start decided no execution", rb.Name)
	}
	if err := r.insertExecution(eff.Execution, rb.Document); err != nil {
		return nil, err
	}
	if err := r.applyRest(eff, level); err != nil {
		return nil, err
	}
	return eff.Execution, nil
}

// apply writes a decision about an existing execution: nothing for a
// decision that changes nothing (a stale result), else the execution
// (compare-and-set on its row version: ECONFLICT, nothing written, when
// another write came first) and the rest of the effects.
func (r *runner) apply(eff runbook.Effects, level int) error {
	if eff.Execution == nil {
		return nil
	}
	if level > maxApplyLevel {
		return tocsin.Errorf(tocsin.EINTERNAL, "runbook execution %s: effects nest more than %d deep", eff.Execution.ID, maxApplyLevel)
	}
	if err := r.writeExecution(eff.Execution); err != nil {
		return err
	}
	return r.applyRest(eff, level)
}

// applyRest writes what a decision does besides the execution's row, in
// the order runbook.Effects gives: steps, timeline, cancelled and new
// jobs, then the executions it concerns (children started and cancelled,
// the parent told of the end).
func (r *runner) applyRest(eff runbook.Effects, level int) error {
	e := eff.Execution
	for _, st := range eff.Steps {
		if err := r.upsertStep(e.ID, st); err != nil {
			return err
		}
	}
	for _, ev := range eff.Events {
		if ev.IncidentID == "" {
			ev.IncidentID = e.IncidentID
		}
		if ev.IncidentID == "" {
			continue // a run by hand without an incident has no timeline
		}
		if ev.At.IsZero() {
			ev.At = r.now
		}
		if err := insertEvent(r.ctx, r.tx, ev); err != nil {
			return err
		}
	}
	for _, key := range eff.Cancel {
		if err := cancelKey(r.ctx, r.tx, key); err != nil {
			return err
		}
	}
	for _, j := range eff.Jobs {
		if err := insertJob(r.ctx, r.tx, j, r.now); err != nil {
			return err
		}
	}
	for _, ch := range eff.Children {
		if err := r.startChild(e, ch, level+1); err != nil {
			return err
		}
	}
	for _, id := range eff.CancelChildren {
		if err := r.cancelChild(e, id, level+1); err != nil {
			return err
		}
	}
	if eff.Ended && e.ParentID != "" {
		return r.childEnded(e, level+1)
	}
	return nil
}

// cancelKey cancels the pending job with key: deleted when no worker
// holds it, else marked cancelled for CompleteJob to finish. A cancelled
// job gives up its key, so the decision may arm a new timer under it.
func cancelKey(ctx context.Context, tx *txn, key string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE job_key = $1 AND state = 'pending' AND lease_owner IS NULL`, key); err != nil {
		return fmt.Errorf("cancel job %s: %w", key, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', job_key = NULL WHERE job_key = $1 AND state = 'pending'`, key); err != nil {
		return fmt.Errorf("cancel job %s: %w", key, err)
	}
	return nil
}

// startChild starts a nested execution for parent's step. A child that
// cannot start (its runbook missing, its parameters wrong, nested deeper
// than MaxRunbookDepth) is recorded as failed with the reason, and the
// parent is told at once, as of any child's end.
func (r *runner) startChild(parent *tocsin.RunbookExecution, ch runbook.Child, level int) error {
	if ch.ID == "" {
		ch.ID = newID()
	}
	by := "runbook " + parent.Runbook
	depth, err := r.depth(parent)
	if err != nil {
		return err
	}
	if depth >= MaxRunbookDepth {
		err = &startError{tocsin.Errorf(tocsin.EINVALID, "runbook %s: executions nest at most %d deep", ch.Runbook, MaxRunbookDepth)}
	} else {
		_, err = r.start(startSpec{ID: ch.ID, Runbook: ch.Runbook, Version: ch.Version, Parameters: ch.Parameters,
			IncidentID: parent.IncidentID, By: by, ParentID: parent.ID, ParentStep: ch.ParentStep}, level)
	}
	var se *startError
	if !errors.As(err, &se) {
		return err
	}
	child := &tocsin.RunbookExecution{ID: ch.ID, IncidentID: parent.IncidentID, Runbook: ch.Runbook, Version: ch.Version,
		ParentID: parent.ID, ParentStep: ch.ParentStep, Status: tocsin.RunbookFailed, FailureMessage: tocsin.ErrorMessage(se.err),
		StartedBy: by, StartedAt: r.now, EndedAt: r.now}
	if err := r.insertExecution(child, json.RawMessage(`{}`)); err != nil {
		return err
	}
	return r.childEnded(child, level)
}

// depth is how deep e is nested: 1 for an execution without a parent.
func (r *runner) depth(e *tocsin.RunbookExecution) (int, error) {
	d, id := 1, e.ParentID
	for id != "" && d <= MaxRunbookDepth {
		var parent sql.NullString
		if err := r.tx.QueryRowContext(r.ctx, `SELECT parent_id FROM runbook_executions WHERE id = $1`, id).Scan(&parent); err != nil {
			return 0, fmt.Errorf("find parent execution: %w", err)
		}
		d, id = d+1, parent.String
	}
	return d, nil
}

// cancelChild signals Cancel to a nested execution whose parent was
// cancelled; one already ended (the machine's ECONFLICT) stays as it is.
func (r *runner) cancelChild(parent *tocsin.RunbookExecution, id string, level int) error {
	child, doc, err := r.lockExecution(id)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	c, err := r.context(child.IncidentID)
	if err != nil {
		return err
	}
	sig := tocsin.RunbookSignal{ExecutionID: id, Type: tocsin.SignalCancel, By: tocsin.Actor{Name: "runbook " + parent.Runbook, Via: "parent execution " + parent.ID}}
	eff, err := runbook.Signal(doc, child, sig, c, r.now)
	if tocsin.ErrorCode(err) == tocsin.ECONFLICT {
		return nil
	} else if err != nil {
		return fmt.Errorf("cancel runbook execution %s: %w", id, err)
	}
	return r.apply(eff, level)
}

// childEnded tells child's parent that child ended (runbook.ChildEnded).
func (r *runner) childEnded(child *tocsin.RunbookExecution, level int) error {
	parent, doc, err := r.lockExecution(child.ParentID)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	c, err := r.context(parent.IncidentID)
	if err != nil {
		return err
	}
	eff, err := runbook.ChildEnded(doc, parent, child, c, r.now)
	if err != nil {
		return fmt.Errorf("end child execution %s: %w", child.ID, err)
	}
	return r.apply(eff, level)
}

// insertExecution writes a new execution with its document copy, at row
// version 1.
func (r *runner) insertExecution(e *tocsin.RunbookExecution, doc json.RawMessage) error {
	params, outputs, err := executionJSON(e)
	if err != nil {
		return err
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = r.now
	}
	if _, err := r.tx.ExecContext(r.ctx, `INSERT INTO runbook_executions (id, incident_id, runbook, version, document, parent_id, parent_step,
		status, parameters, outputs, failure_message, current_step, started_by, started_at, ended_at, row_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1)`,
		e.ID, nullString(e.IncidentID), e.Runbook, e.Version, string(doc), nullString(e.ParentID), e.ParentStep,
		e.Status, params, outputs, e.FailureMessage, e.Current, e.StartedBy, micros(e.StartedAt), nullMicros(e.EndedAt)); err != nil {
		return fmt.Errorf("insert runbook execution: %w", err)
	}
	e.Row = 1
	return nil
}

// writeExecution writes an execution's new state if its row is still at
// e.Row; ECONFLICT, nothing written, when another write came first.
func (r *runner) writeExecution(e *tocsin.RunbookExecution) error {
	params, outputs, err := executionJSON(e)
	if err != nil {
		return err
	}
	res, err := r.tx.ExecContext(r.ctx, `UPDATE runbook_executions SET status = $1, parameters = $2, outputs = $3, failure_message = $4,
		current_step = $5, ended_at = $6, row_version = row_version + 1 WHERE id = $7 AND row_version = $8`,
		e.Status, params, outputs, e.FailureMessage, e.Current, nullMicros(e.EndedAt), e.ID, e.Row)
	if err != nil {
		return fmt.Errorf("update runbook execution: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tocsin.Errorf(tocsin.ECONFLICT, "runbook execution %s changed while it was being decided (row %d)", e.ID, e.Row)
	}
	e.Row++
	return nil
}

func executionJSON(e *tocsin.RunbookExecution) (params, outputs string, err error) {
	if params, err = jsonColumn(e.Parameters, "{}"); err != nil {
		return "", "", fmt.Errorf("runbook execution %s: parameters: %w", e.ID, err)
	}
	if outputs, err = jsonColumn(e.Outputs, "{}"); err != nil {
		return "", "", fmt.Errorf("runbook execution %s: outputs: %w", e.ID, err)
	}
	return params, outputs, nil
}

// jsonColumn encodes v for a JSON text column (empty for nil); a value
// JSON cannot hold is EINVALID.
func jsonColumn[T any](v T, empty string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", tocsin.Errorf(tocsin.EINVALID, "not storable as JSON: %v", err)
	}
	if string(b) == "null" {
		return empty, nil
	}
	return string(b), nil
}

// upsertStep writes one step of an execution, new or changed.
func (r *runner) upsertStep(execID string, st *tocsin.RunbookStep) error {
	inputs, err := jsonColumn(st.Inputs, "{}")
	if err != nil {
		return fmt.Errorf("runbook step %d: inputs: %w", st.Seq, err)
	}
	outputs, err := jsonColumn(st.Outputs, "{}")
	if err != nil {
		return fmt.Errorf("runbook step %d: outputs: %w", st.Seq, err)
	}
	approvals, err := jsonColumn(st.Approvals, "[]")
	if err != nil {
		return fmt.Errorf("runbook step %d: approvals: %w", st.Seq, err)
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = r.now
	}
	if _, err := r.tx.ExecContext(r.ctx, `INSERT INTO runbook_steps (execution_id, seq, name, action, status, attempt, inputs, outputs,
		failure_message, wake_at, running, approvals, child_id, started_at, ended_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (execution_id, seq) DO UPDATE SET name = excluded.name, action = excluded.action, status = excluded.status,
		attempt = excluded.attempt, inputs = excluded.inputs, outputs = excluded.outputs, failure_message = excluded.failure_message,
		wake_at = excluded.wake_at, running = excluded.running, approvals = excluded.approvals, child_id = excluded.child_id,
		started_at = excluded.started_at, ended_at = excluded.ended_at`,
		execID, st.Seq, st.Name, st.Action, st.Status, st.Attempt, inputs, outputs, st.FailureMessage, nullMicros(st.WakeAt),
		st.Running, approvals, st.ChildID, micros(st.StartedAt), nullMicros(st.EndedAt)); err != nil {
		return fmt.Errorf("write runbook step %d: %w", st.Seq, err)
	}
	return nil
}

const executionColumns = `id, incident_id, runbook, version, parent_id, parent_step, status, parameters, outputs, failure_message,
	current_step, started_by, started_at, ended_at, row_version`

// scanExecution reads executionColumns and then more, the columns a
// query selects after them.
func scanExecution(row scanner, more ...any) (*tocsin.RunbookExecution, error) {
	var e tocsin.RunbookExecution
	var inc, parent sql.NullString
	var params, outputs string
	var started int64
	var ended sql.NullInt64
	dest := append([]any{&e.ID, &inc, &e.Runbook, &e.Version, &parent, &e.ParentStep, &e.Status, &params, &outputs,
		&e.FailureMessage, &e.Current, &e.StartedBy, &started, &ended, &e.Row}, more...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e.IncidentID, e.ParentID = inc.String, parent.String
	if err := decodeColumn(params, &e.Parameters); err != nil {
		return nil, fmt.Errorf("runbook execution %s: parameters: %w", e.ID, err)
	}
	if err := decodeColumn(outputs, &e.Outputs); err != nil {
		return nil, fmt.Errorf("runbook execution %s: outputs: %w", e.ID, err)
	}
	e.StartedAt = fromMicros(started)
	if ended.Valid {
		e.EndedAt = fromMicros(ended.Int64)
	}
	return &e, nil
}

// decodeColumn decodes a JSON column into v, an empty object or list
// leaving v nil (as it was before it was stored). Numbers come back as
// runbook/ types them: int64 when whole, else float64 (an Integer
// parameter stays an integer).
func decodeColumn(s string, v any) error {
	if s == "" || s == "{}" || s == "[]" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if m, ok := v.(*map[string]any); ok {
		for k, x := range *m {
			(*m)[k] = runbook.Plain(x)
		}
	}
	return nil
}

// loadExecution reads an execution with its steps in Seq order and the
// document it runs; lock is appended to the execution's query (FOR
// UPDATE, or "").
func loadExecution(ctx context.Context, q querier, id, lock string) (*tocsin.RunbookExecution, *runbook.Document, error) {
	var raw string
	e, err := readExecution(ctx, q, id, `, document`+` FROM runbook_executions WHERE id = $1`+lock, &raw)
	if err != nil {
		return nil, nil, err
	}
	doc, err := runbook.Parse([]byte(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("runbook execution %s: its document: %w", id, err)
	}
	return e, doc, nil
}

// readExecution reads an execution with its steps; rest completes the
// query after executionColumns, more are the columns it adds.
func readExecution(ctx context.Context, q querier, id, rest string, more ...any) (*tocsin.RunbookExecution, error) {
	if rest == "" {
		rest = ` FROM runbook_executions WHERE id = $1`
	}
	e, err := scanExecution(q.QueryRowContext(ctx, `SELECT `+executionColumns+rest, id), more...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook execution %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find runbook execution: %w", err)
	}
	if e.Steps, err = loadSteps(ctx, q, id); err != nil {
		return nil, err
	}
	return e, nil
}

func loadSteps(ctx context.Context, q querier, id string) ([]*tocsin.RunbookStep, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, name, action, status, attempt, inputs, outputs, failure_message, wake_at, running,
		approvals, child_id, started_at, ended_at FROM runbook_steps WHERE execution_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("find runbook steps: %w", err)
	}
	defer rows.Close()
	var out []*tocsin.RunbookStep
	for rows.Next() {
		var st tocsin.RunbookStep
		var inputs, outputs, approvals string
		var wake, ended sql.NullInt64
		var started int64
		if err := rows.Scan(&st.Seq, &st.Name, &st.Action, &st.Status, &st.Attempt, &inputs, &outputs, &st.FailureMessage, &wake,
			&st.Running, &approvals, &st.ChildID, &started, &ended); err != nil {
			return nil, fmt.Errorf("find runbook steps: %w", err)
		}
		if err := errors.Join(decodeColumn(inputs, &st.Inputs), decodeColumn(outputs, &st.Outputs), decodeColumn(approvals, &st.Approvals)); err != nil {
			return nil, fmt.Errorf("runbook execution %s step %d: %w", id, st.Seq, err)
		}
		st.StartedAt = fromMicros(started)
		if wake.Valid {
			st.WakeAt = fromMicros(wake.Int64)
		}
		if ended.Valid {
			st.EndedAt = fromMicros(ended.Int64)
		}
		out = append(out, &st)
	}
	return out, rows.Err()
}

// advanceRunbook records a runbook step's result with its job's
// completion: runbook.Advance on the execution (locked) and its effects
// applied. A result the machine finds stale changes nothing, as does one
// for an execution that is gone.
func (s *core) advanceRunbook(ctx context.Context, tx *txn, res *tocsin.RunbookResult, now time.Time) error {
	if res == nil {
		return nil
	}
	r := s.run(ctx, tx, now)
	exec, doc, err := r.lockExecution(res.ExecutionID)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	c, err := r.context(exec.IncidentID)
	if err != nil {
		return err
	}
	eff, err := runbook.Advance(doc, exec, *res, c, now)
	if err != nil {
		return fmt.Errorf("advance runbook execution %s: %w", exec.ID, err)
	}
	return r.apply(eff, 0)
}

// startPlanRunbook starts the runbook of the response plan an incident
// was opened from, in the incident's transaction: its parameters are the
// plan's, and its dynamic parameters are read from the incident. A
// runbook that cannot start leaves the incident open, with the reason on
// its timeline.
func (s *core) startPlanRunbook(ctx context.Context, tx *txn, incidentID, plan string, ref *tocsin.RunbookRef, now time.Time) error {
	if ref == nil {
		return nil
	}
	r := s.run(ctx, tx, now)
	params, unread, err := r.planParameters(incidentID, ref)
	if err == nil {
		_, err = r.start(startSpec{ID: newID(), Runbook: ref.Name, Parameters: params, IncidentID: incidentID, By: "response plan " + plan}, 0)
	}
	var se *startError
	if !errors.As(err, &se) {
		return err
	}
	why := tocsin.ErrorMessage(se.err)
	if unread != "" {
		why += " (" + unread + ")"
	}
	return insertEvent(ctx, tx, &tocsin.TimelineEvent{IncidentID: incidentID, At: now, Kind: tocsin.EventRunbookEnded, Actor: "response plan " + plan,
		Message: fmt.Sprintf("Runbook %s could not start: %s", ref.Name, why),
		Data:    tocsin.MustJSON(tocsin.RunbookEventData{Runbook: ref.Name, Status: tocsin.RunbookFailed})})
}

// planParameters are a plan's runbook parameters with its dynamic ones
// read from the incident (runbook.Dynamic); one that cannot be read is a
// *startError. A label the incident does not have leaves its parameter to
// the document's default: unread says which were left, for the timeline
// should the start fail for want of them.
func (r *runner) planParameters(incidentID string, ref *tocsin.RunbookRef) (params map[string][]string, unread string, err error) {
	params = make(map[string][]string, len(ref.Parameters)+len(ref.DynamicParameters))
	for k, v := range ref.Parameters {
		params[k] = v
	}
	if len(ref.DynamicParameters) == 0 {
		return params, "", nil
	}
	c, err := r.context(incidentID)
	if err != nil {
		return nil, "", err
	}
	inc := *c.Incident
	if inc.Alerts, err = incidentAlerts(r.ctx, r.tx, incidentID); err != nil {
		return nil, "", err
	}
	var left []string
	names := make([]string, 0, len(ref.DynamicParameters))
	for name := range ref.DynamicParameters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := runbook.Dynamic(ref.DynamicParameters[name], &inc)
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			left = append(left, name+": "+tocsin.ErrorMessage(err))
			continue
		}
		if err != nil {
			why := tocsin.ErrorMessage(err)
			if tocsin.ErrorCode(err) == tocsin.EINTERNAL {
				why = err.Error() // runbook/ is pure: its errors hold no secret
			}
			return nil, "", &startError{tocsin.Errorf(tocsin.EINVALID, "runbook %s: dynamic parameter %s: %s", ref.Name, name, why)}
		}
		params[name] = v
	}
	return params, strings.Join(left, "; "), nil
}
