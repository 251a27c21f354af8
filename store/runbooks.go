package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tocsin"
	"tocsin/runbook"
)

// Runbooks are runbook documents, their versions and their executions. It
// implements tocsin.RunbookStore. What an execution does next is decided
// in runbook/ (Start, Advance, Signal, ChildEnded); the methods here load
// its input and apply the effects in one transaction.
type Runbooks struct{ *core }

var _ tocsin.RunbookStore = (*Runbooks)(nil)

// Runbooks returns the store of runbooks and their executions.
func (s *DB) Runbooks() *Runbooks { return &s.runbooks }

// Default and largest page sizes of RunbookExecutions.
const (
	DefaultRunbookPage = 50
	MaxRunbookPage     = 500
)

// PutRunbook stores rb as a new version when its body or its parsed
// document differs from the latest version's; otherwise it changes
// nothing. It returns the stored version and whether it is new. rb's
// Document must be the parsed document (the API fills it): the store
// never decodes YAML.
func (s *Runbooks) PutRunbook(ctx context.Context, rb *tocsin.Runbook) (*tocsin.Runbook, bool, error) {
	if err := checkRunbook(rb); err != nil {
		return nil, false, err
	}
	var out *tocsin.Runbook
	var created bool
	var err error
	// Two first applies of one name on PostgreSQL: the primary key lets
	// one insert, and the other, run again, adds its version after it.
	for attempt := 0; attempt < 3; attempt++ {
		err = s.tx(ctx, func(tx *txn) error {
			var err error
			out, created, err = s.putRunbook(ctx, tx, rb)
			return err
		})
		if tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			break
		}
	}
	return out, created, err
}

// checkRunbook refuses a runbook whose name, body or document cannot be
// stored or run.
func checkRunbook(rb *tocsin.Runbook) error {
	switch {
	case strings.TrimSpace(rb.Name) == "":
		return tocsin.Errorf(tocsin.EINVALID, "runbook: name is required")
	case strings.TrimSpace(rb.Body) == "":
		return tocsin.Errorf(tocsin.EINVALID, "runbook %s: body is required", rb.Name)
	case len(rb.Document) == 0:
		return tocsin.Errorf(tocsin.EINVALID, "runbook %s: document is required (the parsed body)", rb.Name)
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		return fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	if err := doc.Validate().Err(); err != nil {
		return fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	return nil
}

func (s *Runbooks) putRunbook(ctx context.Context, tx *txn, rb *tocsin.Runbook) (*tocsin.Runbook, bool, error) {
	now := s.opts.Now().UTC()
	q := `SELECT latest FROM runbooks WHERE name = $1`
	if s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var latest int
	err := tx.QueryRowContext(ctx, q, rb.Name).Scan(&latest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A name deleted before numbers on after the versions its
		// executions still run: a version number is never another
		// document (the API and the page read an execution's by it).
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM runbook_executions WHERE runbook = $1`, rb.Name).Scan(&latest); err != nil {
			return nil, false, fmt.Errorf("find runbook executions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runbooks (name, latest, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
			rb.Name, latest+1, micros(now)); err != nil {
			return nil, false, fmt.Errorf("insert runbook: %w", err)
		}
	case err != nil:
		return nil, false, fmt.Errorf("find runbook: %w", err)
	default:
		cur, err := scanRunbook(tx.QueryRowContext(ctx, `SELECT `+runbookColumns+` FROM runbook_versions v JOIN runbooks r ON r.name = v.name
			WHERE v.name = $1 AND v.version = $2`, rb.Name, latest))
		if err != nil {
			return nil, false, fmt.Errorf("find runbook version: %w", err)
		}
		if cur.Body == rb.Body && sameJSON(cur.Document, rb.Document) {
			return cur, false, nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runbooks SET latest = $1, updated_at = $2 WHERE name = $3`, latest+1, micros(now), rb.Name); err != nil {
			return nil, false, fmt.Errorf("update runbook: %w", err)
		}
	}
	v := *rb
	v.Version, v.Latest, v.CreatedAt = latest+1, latest+1, now
	if v.Format == "" {
		v.Format = "yaml"
		if strings.HasPrefix(strings.TrimSpace(v.Body), "{") {
			v.Format = "json"
		}
	}
	if v.Description == "" {
		if doc, err := runbook.Parse(v.Document); err == nil {
			v.Description = doc.Description
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runbook_versions (name, version, body, format, description, document, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, v.Name, v.Version, v.Body, v.Format, v.Description, string(v.Document), micros(now)); err != nil {
		return nil, false, fmt.Errorf("insert runbook version: %w", err)
	}
	return &v, true, nil
}

// sameJSON reports whether two JSON texts are the same document, spaces
// aside.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

const runbookColumns = `v.name, v.version, v.body, v.format, v.description, v.document, v.created_at, r.latest`

func scanRunbook(row scanner) (*tocsin.Runbook, error) {
	var rb tocsin.Runbook
	var doc string
	var created int64
	if err := row.Scan(&rb.Name, &rb.Version, &rb.Body, &rb.Format, &rb.Description, &doc, &created, &rb.Latest); err != nil {
		return nil, err
	}
	rb.Document, rb.CreatedAt = json.RawMessage(doc), fromMicros(created)
	return &rb, nil
}

// Runbook returns a version of a runbook (0: the latest).
func (s *Runbooks) Runbook(ctx context.Context, name string, version int) (*tocsin.Runbook, error) {
	return findRunbook(ctx, s.db, name, version)
}

// findRunbook reads a version of a runbook (0: the latest); ENOTFOUND
// when there is no such runbook or version.
func findRunbook(ctx context.Context, db querier, name string, version int) (*tocsin.Runbook, error) {
	q, args := `SELECT `+runbookColumns+` FROM runbook_versions v JOIN runbooks r ON r.name = v.name
		WHERE v.name = $1 AND v.version = r.latest`, []any{name}
	if version != 0 {
		q, args = `SELECT `+runbookColumns+` FROM runbook_versions v JOIN runbooks r ON r.name = v.name
		WHERE v.name = $1 AND v.version = $2`, []any{name, version}
	}
	rb, err := scanRunbook(db.QueryRowContext(ctx, q, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows) && version != 0:
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook %q has no version %d", name, version)
	case errors.Is(err, sql.ErrNoRows):
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("find runbook: %w", translate(err))
	}
	return rb, nil
}

// Runbooks returns the latest version of every runbook, by name.
func (s *Runbooks) Runbooks(ctx context.Context) ([]*tocsin.Runbook, error) {
	return queryAll(ctx, s.db, `SELECT `+runbookColumns+` FROM runbook_versions v JOIN runbooks r ON r.name = v.name
		WHERE v.version = r.latest ORDER BY v.name`, nil, scanRunbook)
}

// DeleteRunbook removes a runbook and all its versions; executions keep
// their copy of the document they run. It fails with ECONFLICT while a
// response plan names the runbook.
func (s *Runbooks) DeleteRunbook(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, `SELECT spec FROM response_plans ORDER BY name`)
		if err != nil {
			return fmt.Errorf("read response plans: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var spec string
			if err := rows.Scan(&spec); err != nil {
				return fmt.Errorf("read response plans: %w", err)
			}
			var p tocsin.ResponsePlan
			if err := json.Unmarshal([]byte(spec), &p); err != nil {
				return fmt.Errorf("read response plan: %w", err)
			}
			if p.Runbook != nil && p.Runbook.Name == name {
				return tocsin.Errorf(tocsin.ECONFLICT, "runbook %q is named by response plan %q (runbook.name)", name, p.Name)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read response plans: %w", err)
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM runbooks WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("delete runbook: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return tocsin.Errorf(tocsin.ENOTFOUND, "runbook %q not found", name)
		}
		return nil
	})
}

// StartRunbook starts an execution of the latest version of req.Runbook
// with req's parameters, for req.IncidentID when it is set. Parameters
// that do not type are refused (EINVALID naming the parameter), an
// incident that does not exist is ENOTFOUND; nothing is written then.
func (s *Runbooks) StartRunbook(ctx context.Context, req tocsin.RunbookStart) (*tocsin.RunbookExecution, error) {
	var out *tocsin.RunbookExecution
	err := s.tx(ctx, func(tx *txn) error {
		r := s.run(ctx, tx, s.opts.Now().UTC())
		if req.IncidentID != "" {
			if err := r.lockIncident(req.IncidentID); err != nil {
				return err
			}
		}
		exec, err := r.start(startSpec{Runbook: req.Runbook, Parameters: req.Parameters, IncidentID: req.IncidentID,
			By: req.By.String(), ID: newID()}, 0)
		if err != nil {
			return err
		}
		// Read back in the transaction: a child that ended at once moved
		// the execution on after its start was decided.
		out, err = readExecution(ctx, tx, exec.ID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.opts.Wake()
	return out, nil
}

// SignalRunbook applies a responder's signal to an execution, as
// runbook.Signal decides: its errors (ECONFLICT when the execution does
// not wait for that signal, EFORBIDDEN when the actor may not give it)
// are returned unchanged, and nothing is written then.
func (s *Runbooks) SignalRunbook(ctx context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error) {
	var out *tocsin.RunbookExecution
	err := s.tx(ctx, func(tx *txn) error {
		r := s.run(ctx, tx, s.opts.Now().UTC())
		exec, doc, err := r.lockExecution(sig.ExecutionID)
		if err != nil {
			return err
		}
		c, err := r.context(exec.IncidentID)
		if err != nil {
			return err
		}
		eff, err := runbook.Signal(doc, exec, sig, c, r.now)
		if err != nil {
			return err
		}
		if err := r.apply(eff, 0); err != nil {
			return err
		}
		out, err = readExecution(ctx, tx, exec.ID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.opts.Wake()
	return out, nil
}

// RunbookExecution returns an execution with its steps, in Seq order.
func (s *Runbooks) RunbookExecution(ctx context.Context, id string) (*tocsin.RunbookExecution, error) {
	exec, err := readExecution(ctx, s.db, id, "")
	if err != nil {
		return nil, translate(err)
	}
	return exec, nil
}

// RunbookRun returns what the step runner needs to run a step: the
// execution with its steps and the document it runs (its own copy).
func (s *Runbooks) RunbookRun(ctx context.Context, id string) (*tocsin.RunbookExecution, *runbook.Document, error) {
	exec, doc, err := loadExecution(ctx, s.db, id, "")
	if err != nil {
		return nil, nil, translate(err)
	}
	return exec, doc, nil
}

// ClaimRunbookStep marks the step seq of execution id as running before an
// action's attempt starts, as a page is claimed before its send:
// wasRunning reports that it already was (an attempt a crash or a
// shutdown interrupted: a non-idempotent action must not run again). It fails with ECONFLICT
// when the step is no longer the execution's current one at that attempt
// (nothing is to run) and ENOTFOUND when there is no such execution.
func (s *Runbooks) ClaimRunbookStep(ctx context.Context, id string, seq, attempt int) (wasRunning bool, err error) {
	err = s.tx(ctx, func(tx *txn) error {
		q := `SELECT e.status, e.current_step, s.attempt, s.running FROM runbook_executions e
			JOIN runbook_steps s ON s.execution_id = e.id AND s.seq = $2 WHERE e.id = $1`
		if s.dialect == Postgres {
			q += ` FOR UPDATE OF e, s`
		}
		var status string
		var current, at int
		err := tx.QueryRowContext(ctx, q, id, seq).Scan(&status, &current, &at, &wasRunning)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return tocsin.Errorf(tocsin.ENOTFOUND, "runbook execution %q has no step %d", id, seq)
		case err != nil:
			return fmt.Errorf("find runbook step: %w", err)
		case tocsin.RunbookEnded(status) || current != seq || at != attempt:
			return tocsin.Errorf(tocsin.ECONFLICT, "runbook execution %s: step %d attempt %d is no longer current", id, seq, attempt)
		case wasRunning:
			return nil
		}
		// The claim is a write of the execution: a decision that read it
		// before must decide again.
		if _, err := tx.ExecContext(ctx, `UPDATE runbook_steps SET running = TRUE WHERE execution_id = $1 AND seq = $2`, id, seq); err != nil {
			return fmt.Errorf("claim runbook step: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runbook_executions SET row_version = row_version + 1 WHERE id = $1`, id); err != nil {
			return fmt.Errorf("claim runbook step: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return wasRunning, nil
}

// RunbookExecutions lists executions newest first, filtered (without
// their steps).
func (s *Runbooks) RunbookExecutions(ctx context.Context, f tocsin.RunbookFilter) ([]*tocsin.RunbookExecution, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.IncidentID != "" {
		where = append(where, "incident_id = "+arg(f.IncidentID))
	}
	if f.Runbook != "" {
		where = append(where, "runbook = "+arg(f.Runbook))
	}
	if len(f.Status) > 0 {
		ph := make([]string, len(f.Status))
		for i, st := range f.Status {
			ph[i] = arg(st)
		}
		where = append(where, "status IN ("+strings.Join(ph, ", ")+")")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRunbookPage
	}
	q := `SELECT ` + executionColumns + ` FROM runbook_executions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC LIMIT " + arg(min(limit, MaxRunbookPage))
	return queryAll(ctx, s.db, q, args, func(row scanner) (*tocsin.RunbookExecution, error) { return scanExecution(row) })
}
