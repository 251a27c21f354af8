package runbook

import (
	"time"

	"tocsin"
)

// Effects are what a start, a step's result or a responder's signal does
// to an execution, for the store to apply in one transaction. The store
// decides nothing: it writes Execution (compare-and-set on Execution.Row),
// upserts Steps by (execution, Seq), appends Events to the incident's
// timeline, queues Jobs, deletes the pending jobs whose keys are in Cancel,
// starts Children (loading their documents and calling Start for each) and
// tells Parent when the execution ended.
type Effects struct {
	// Execution is the execution's new state (Steps included).
	Execution *tocsin.RunbookExecution
	// Steps are the steps new or changed by this decision.
	Steps []*tocsin.RunbookStep
	// Events go on the incident's timeline (IncidentID set), in order.
	Events []*tocsin.TimelineEvent
	// Jobs are queued: a step's attempt (JobRunbookStep in the step's
	// lane), a sleep's or a wait's timer (Wake), approvers' notices
	// (JobRunbookNotice).
	Jobs []*tocsin.Job
	// Cancel are keys of pending jobs that no longer apply (a timer of a
	// step resumed or cancelled).
	Cancel []string
	// Children are nested executions to start (aws:executeAutomation).
	Children []Child
	// CancelChildren are nested executions to cancel (their parent was
	// cancelled): the store signals each with SignalCancel.
	CancelChildren []string
	// Ended, when set, is the execution's end, for its parent: the store
	// calls ChildEnded on the parent in the same transaction.
	Ended bool
}

// Child is a nested execution an aws:executeAutomation step starts.
type Child struct {
	// ID is the child's execution id, chosen by the decision.
	ID         string
	Runbook    string
	Version    int // 0: the latest
	Parameters map[string][]string
	ParentStep int
}

// Context is what an execution's steps may read besides its parameters
// and outputs: the incident's fields, AWS's dynamic parameters
// (INCIDENT_RECORD_ARN, INVOLVED_RESOURCES) and tocsin's own.
type Context struct {
	Incident *tocsin.Incident
	// NewID returns a fresh id (the store's), for child executions and
	// jobs.
	NewID func() string
}

// Start begins exec (ID, IncidentID, Runbook, Version, Parameters typed by
// Params, StartedBy set by the caller) at its first step.
func Start(doc *Document, exec *tocsin.RunbookExecution, c Context, now time.Time) (Effects, error) {
	panic("runbook.Start: not written yet")
}

// Advance records what an attempt of a step did (a job's result) and moves
// the execution on: the next step, a retry (maxAttempts), onFailure, the
// end. A result for a step that is no longer current, or an attempt that
// is not the step's latest, changes nothing (Effects zero, no error).
func Advance(doc *Document, exec *tocsin.RunbookExecution, res tocsin.RunbookResult, c Context, now time.Time) (Effects, error) {
	panic("runbook.Advance: not written yet")
}

// Signal applies a responder's signal: Resume an aws:pause, Approve or
// Reject an aws:approve (approvers names who may), Cancel the execution.
// It fails with ECONFLICT when the execution does not wait for that
// signal, and EFORBIDDEN when the actor is not an approver.
func Signal(doc *Document, exec *tocsin.RunbookExecution, sig tocsin.RunbookSignal, c Context, now time.Time) (Effects, error) {
	panic("runbook.Signal: not written yet")
}

// ChildEnded moves a parent on when the execution its
// aws:executeAutomation step started has ended.
func ChildEnded(doc *Document, parent, child *tocsin.RunbookExecution, c Context, now time.Time) (Effects, error) {
	panic("runbook.ChildEnded: not written yet")
}

// Idempotent reports whether an attempt of the step's action may run again
// after a crash interrupted it: waits and timers may; tocsin:http with GET,
// HEAD, PUT, DELETE or OPTIONS may; POST and PATCH and tocsin:script may
// not.
func Idempotent(s *Step) bool {
	panic("runbook.Idempotent: not written yet")
}

// Policy is what the configuration allows runbooks to do.
type Policy struct {
	// HTTPAllow are the URL prefixes tocsin:http may call
	// (runbooks.http.allow); none: tocsin:http is refused.
	HTTPAllow []string
	// Scripts enables tocsin:script (runbooks.scripts.enabled).
	Scripts bool
	// Interpreters are the runtimes tocsin:script may run ("python3",
	// "bash").
	Interpreters []string
}

// Allowed returns the problems of a document the policy does not allow,
// each naming the step and the configuration key that would allow it.
func (d *Document) Allowed(p Policy) Problems {
	panic("Document.Allowed: not written yet")
}
