package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"tocsin"
	"tocsin/runbook"
)

// Runbooks is what the incident page reads of an incident's runbook
// executions (store.Runbooks).
type Runbooks interface {
	RunbookExecutions(ctx context.Context, f tocsin.RunbookFilter) ([]*tocsin.RunbookExecution, error)
	RunbookExecution(ctx context.Context, id string) (*tocsin.RunbookExecution, error)
	Runbook(ctx context.Context, name string, version int) (*tocsin.Runbook, error)
}

// maxPageExecutions bounds the executions one incident page shows.
const maxPageExecutions = 20

// executionView is one execution as the incident page shows it: its
// steps with their inputs redacted as the API redacts them, the current
// step with its instructions and the steps to come.
type executionView struct {
	Exec  *tocsin.RunbookExecution
	Steps []stepView
	// Current is the step that runs or waits (nil between steps or once
	// ended); Instructions its Markdown description, shown as text.
	Current      *tocsin.RunbookStep
	Instructions string
	Upcoming     []string
}

// stepView is a step with its inputs and outputs as indented JSON.
type stepView struct {
	*tocsin.RunbookStep
	Inputs, Outputs string
}

// executions reads the incident's executions for its page, newest as the
// store lists them.
func (s *Server) executions(ctx context.Context, incidentID string) ([]executionView, error) {
	if s.opts.Runbooks == nil {
		return nil, nil
	}
	list, err := s.opts.Runbooks.RunbookExecutions(ctx, tocsin.RunbookFilter{IncidentID: incidentID, Limit: maxPageExecutions})
	if err != nil {
		return nil, fmt.Errorf("list runbook executions: %w", err)
	}
	out := make([]executionView, 0, len(list))
	for _, e := range list {
		// Lists carry no steps: each execution is read whole.
		exec, err := s.opts.Runbooks.RunbookExecution(ctx, e.ID)
		if err != nil {
			return nil, fmt.Errorf("read runbook execution %s: %w", e.ID, err)
		}
		v, err := s.executionView(ctx, runbook.Redact(exec))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// executionView builds one execution's view; the document (for the
// instructions and the steps to come) may have been deleted since, and
// the execution still shows.
func (s *Server) executionView(ctx context.Context, exec *tocsin.RunbookExecution) (executionView, error) {
	v := executionView{Exec: exec}
	for _, st := range exec.Steps {
		v.Steps = append(v.Steps, stepView{RunbookStep: st, Inputs: indented(st.Inputs), Outputs: indented(st.Outputs)})
		if st.Seq == exec.Current && !tocsin.RunbookEnded(exec.Status) {
			v.Current = st
		}
	}
	rb, err := s.opts.Runbooks.Runbook(ctx, exec.Runbook, exec.Version)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return v, nil
	} else if err != nil {
		return v, fmt.Errorf("read runbook %s version %d: %w", exec.Runbook, exec.Version, err)
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		return v, fmt.Errorf("parse runbook %s version %d: %w", exec.Runbook, exec.Version, err)
	}
	current, upcoming := runbook.Progress(doc, exec)
	if current != nil {
		v.Instructions = current.Description
	}
	v.Upcoming = upcoming
	return v, nil
}

// indented is a step's inputs or outputs as indented JSON ("" for none),
// its text as it is: the page's template escapes it, and a reader sees
// "<" rather than "\u003c".
func indented(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Sprint(m)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
