package runbook

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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

// MaxEntries bounds the steps one decision may enter: steps that finish
// at once (a branch, a sleep already over) chain within a decision, and a
// document whose branches go round in a circle must end rather than spin.
const MaxEntries = 1000

// MaxSteps bounds the steps one execution may run in all: a document
// whose nextStep or branches go round through steps that wait (a sleep, an
// HTTP call) would otherwise add step rows and timeline events forever.
// A variable only so tests can lower it.
var MaxSteps = 10000

// Start begins exec (ID, IncidentID, Runbook, Version, Parameters typed by
// Params, StartedBy set by the caller) at its first step.
func Start(doc *Document, exec *tocsin.RunbookExecution, c Context, now time.Time) (Effects, error) {
	if err := doc.Validate().Err(); err != nil {
		return Effects{}, err
	}
	if exec.ID == "" {
		return Effects{}, tocsin.Errorf(tocsin.EINVALID, "runbook execution: an id is required")
	}
	m := newMachine(doc, exec, c, now)
	m.exec.Status = tocsin.RunbookInProgress
	m.exec.StartedAt = now
	m.exec.Steps, m.exec.Current, m.exec.Outputs = nil, 0, nil
	m.exec.FailureMessage, m.exec.EndedAt = "", time.Time{}
	m.actor = m.exec.StartedBy
	msg := fmt.Sprintf("Runbook %q (version %d) started", exec.Runbook, exec.Version)
	if exec.StartedBy != "" {
		msg += " by " + exec.StartedBy
	}
	m.event(tocsin.EventRunbookStarted, nil, msg)
	m.pending = doc.MainSteps[0].Name
	return m.finish()
}

// Advance records what an attempt of a step did (a job's result) and moves
// the execution on: the next step, a retry (maxAttempts), onFailure, the
// end. A result for a step that is no longer current, or an attempt that
// is not the step's latest, changes nothing (Effects zero, no error).
func Advance(doc *Document, exec *tocsin.RunbookExecution, res tocsin.RunbookResult, c Context, now time.Time) (Effects, error) {
	if res.ExecutionID != "" && res.ExecutionID != exec.ID {
		return Effects{}, tocsin.Errorf(tocsin.EINVALID, "runbook result of execution %s given to execution %s", res.ExecutionID, exec.ID)
	}
	cur := current(exec)
	if cur == nil || cur.Seq != res.Seq || cur.Attempt != res.Attempt {
		return Effects{}, nil
	}
	step := doc.Step(cur.Name)
	if step == nil {
		return Effects{}, tocsin.Errorf(tocsin.EINVALID, "runbook %s: step %q is not in the document", exec.Runbook, cur.Name)
	}
	timer := res.Woke && hasTimer(cur)
	works := step.Action == "tocsin:http" || step.Action == "tocsin:script"
	failed := res.Error != "" || res.TimedOut || res.Interrupted
	if (res.Woke && !timer) || (!res.Woke && !works && !failed) {
		return Effects{}, nil // a timer the step no longer has, or no result for it: a stale job
	}
	m := newMachine(doc, exec, c, now)
	st := m.exec.Steps[res.Seq-1]
	if res.Rerun {
		m.stepEvent(st, fmt.Sprintf("Step %q (%s) attempt %d ran again after a restart interrupted it", st.Name, st.Action, st.Attempt))
	}
	switch {
	case res.Interrupted:
		m.fail(step, st, fmt.Sprintf("interrupted by a restart; %s is not idempotent, not run again", step.Action), false, false)
	case failed:
		if works {
			// A failed call's status code or a script's payload still
			// helps the responder see why.
			st.Outputs = ownOutput(step, res.Outputs)
		}
		msg := res.Error
		if msg == "" {
			msg = fmt.Sprintf("timed out after %ds", step.TimeoutSeconds)
		}
		m.fail(step, st, msg, res.TimedOut, true)
	case timer:
		m.woke(step, st)
	default:
		m.worked(step, st, res.Outputs)
	}
	return m.finish()
}

// Signal applies a responder's signal: Resume an aws:pause, Approve or
// Reject an aws:approve (approvers names who may), Cancel the execution.
// It fails with ECONFLICT when the execution does not wait for that
// signal (or, with sig.Seq, is no longer at that step), and EFORBIDDEN
// when the actor is not an approver.
func Signal(doc *Document, exec *tocsin.RunbookExecution, sig tocsin.RunbookSignal, c Context, now time.Time) (Effects, error) {
	if tocsin.RunbookEnded(exec.Status) {
		return Effects{}, tocsin.Errorf(tocsin.ECONFLICT, "runbook execution %s has ended (%s)", exec.ID, exec.Status)
	}
	if st := current(exec); sig.Seq != 0 && (st == nil || st.Seq != sig.Seq) {
		return Effects{}, tocsin.Errorf(tocsin.ECONFLICT, "runbook execution %s is no longer at step %d", exec.ID, sig.Seq)
	}
	m := newMachine(doc, exec, c, now)
	m.actor = sig.By.String()
	var err error
	switch sig.Type {
	case tocsin.SignalResume:
		err = m.resume()
	case tocsin.SignalApprove, tocsin.SignalReject:
		err = m.answer(sig)
	case tocsin.SignalCancel:
		m.cancel()
	default:
		err = tocsin.Errorf(tocsin.EINVALID, "signal %q is not Resume, Approve, Reject or Cancel", sig.Type)
	}
	if err != nil {
		return Effects{}, err
	}
	return m.finish()
}

// ChildEnded moves a parent on when the execution its
// aws:executeAutomation step started has ended.
func ChildEnded(doc *Document, parent, child *tocsin.RunbookExecution, c Context, now time.Time) (Effects, error) {
	cur := current(parent)
	if cur == nil || cur.Seq != child.ParentStep || cur.ChildID != child.ID || !tocsin.RunbookEnded(child.Status) {
		return Effects{}, nil
	}
	step := doc.Step(cur.Name)
	if step == nil {
		return Effects{}, tocsin.Errorf(tocsin.EINVALID, "runbook %s: step %q is not in the document", parent.Runbook, cur.Name)
	}
	m := newMachine(doc, parent, c, now)
	st := m.exec.Steps[cur.Seq-1]
	m.cancelTimer(st)
	switch child.Status {
	case tocsin.RunbookSuccess:
		st.Outputs = map[string]any{"ExecutionId": child.ID, "Status": child.Status, "Output": child.Outputs}
		m.succeed(step, st, "")
	default:
		msg := child.FailureMessage
		if msg == "" {
			msg = fmt.Sprintf("runbook %q ended %s", child.Runbook, child.Status)
		}
		st.Outputs = map[string]any{"ExecutionId": child.ID, "Status": child.Status}
		m.fail(step, st, fmt.Sprintf("execution %s of %q: %s", child.ID, child.Runbook, msg), child.Status == tocsin.RunbookTimedOut, true)
	}
	return m.finish()
}

// current returns the step an execution runs or waits at, nil when it has
// ended or the step is no longer open.
func current(exec *tocsin.RunbookExecution) *tocsin.RunbookStep {
	if tocsin.RunbookEnded(exec.Status) || exec.Current < 1 || exec.Current > len(exec.Steps) {
		return nil
	}
	st := exec.Steps[exec.Current-1]
	if st.Status != tocsin.RunbookInProgress && st.Status != tocsin.RunbookWaiting {
		return nil
	}
	return st
}

// machine is one decision about one execution: it works on a copy of the
// execution, so a decision that fails leaves the caller's value as it was.
type machine struct {
	doc  *Document
	exec *tocsin.RunbookExecution
	c    Context
	now  time.Time
	eff  Effects
	// changed are the Seqs of the steps this decision wrote.
	changed map[int]bool
	// pending is the step to enter next ("" none); entries counts the
	// steps entered, for MaxEntries.
	pending string
	entries int
	// actor is who caused what the events record: the responder who
	// signalled, until the execution moves on to another step.
	actor string
	ended bool
	err   error
}

func newMachine(doc *Document, exec *tocsin.RunbookExecution, c Context, now time.Time) *machine {
	cp := *exec
	cp.Steps = make([]*tocsin.RunbookStep, len(exec.Steps))
	for i, s := range exec.Steps {
		sc := *s
		sc.Approvals = slices.Clone(s.Approvals)
		cp.Steps[i] = &sc
	}
	return &machine{doc: doc, exec: &cp, c: c, now: now, changed: map[int]bool{}}
}

// finish enters the steps that follow, settles the execution's status and
// returns what the decision did.
func (m *machine) finish() (Effects, error) {
	for m.pending != "" && !m.ended && m.err == nil {
		name := m.pending
		m.pending = ""
		if m.entries >= MaxEntries {
			m.end(tocsin.RunbookFailed, "runbook loops without waiting")
			break
		}
		if len(m.exec.Steps) >= MaxSteps {
			m.end(tocsin.RunbookFailed, fmt.Sprintf("runbook ran %d steps, the most one execution may run", MaxSteps))
			break
		}
		m.entries++
		m.enter(name)
	}
	if m.err != nil {
		return Effects{}, m.err
	}
	if !m.ended && m.exec.Status != tocsin.RunbookCancelling {
		m.exec.Status = tocsin.RunbookInProgress
		if st := current(m.exec); st != nil && st.Status == tocsin.RunbookWaiting {
			m.exec.Status = tocsin.RunbookWaiting
		}
	}
	m.eff.Execution = m.exec
	seqs := make([]int, 0, len(m.changed))
	for seq := range m.changed {
		seqs = append(seqs, seq)
	}
	sort.Ints(seqs)
	for _, seq := range seqs {
		m.eff.Steps = append(m.eff.Steps, m.exec.Steps[seq-1])
	}
	return m.eff, nil
}

// enter starts a new run of the named step.
func (m *machine) enter(name string) {
	step := m.doc.Step(name)
	if step == nil {
		m.end(tocsin.RunbookFailed, fmt.Sprintf("no step %q in the document", name))
		return
	}
	st := &tocsin.RunbookStep{Seq: len(m.exec.Steps) + 1, Name: step.Name, Action: step.Action,
		Status: tocsin.RunbookInProgress, Attempt: 1, StartedAt: m.now}
	m.exec.Steps = append(m.exec.Steps, st)
	m.exec.Current = st.Seq
	m.actor = ""
	m.begin(step, st)
}

// succeed ends the step's run as a success and moves on: to jump (a
// branch's choice) when given, else as the step says.
func (m *machine) succeed(step *Step, st *tocsin.RunbookStep, jump string) {
	m.close(st, tocsin.RunbookSuccess, "")
	msg := fmt.Sprintf("Step %q succeeded", st.Name)
	if jump != "" {
		msg += fmt.Sprintf(": going to %q", jump)
	}
	m.stepEvent(st, msg)
	if jump != "" {
		m.pending = jump
		return
	}
	m.next(step)
}

// next goes on after a step as it says: isEnd ends, nextStep jumps, the
// last step ends. Inside an aws:loop the steps are a runbook of their
// own: isEnd or the last step ends the iteration.
func (m *machine) next(step *Step) {
	loop := m.doc.parent(step.Name)
	steps := m.doc.MainSteps
	if loop != nil {
		steps = loop.Loop
	}
	if step.NextStep != "" && !step.IsEnd {
		m.pending = step.NextStep
		return
	}
	if i := slices.Index(steps, step); !step.IsEnd && i >= 0 && i+1 < len(steps) {
		m.pending = steps[i+1].Name
		return
	}
	if loop != nil {
		m.iterationEnded(loop)
		return
	}
	m.complete()
}

// fail records a failed attempt. A retryable failure with attempts left
// runs the step again; otherwise the step fails (or times out) and its
// onFailure decides what follows. Failures that would fail the same way
// again (an unknown variable, a rejection, an interrupted action) are
// not retried.
func (m *machine) fail(step *Step, st *tocsin.RunbookStep, msg string, timedOut, retry bool) {
	msg = tocsin.Truncate(msg, 4096)
	if retry && st.Attempt < step.Attempts() {
		m.stepEvent(st, fmt.Sprintf("Step %q (%s) attempt %d of %d failed: %s; trying again", st.Name, st.Action, st.Attempt, step.Attempts(), tocsin.Truncate(msg, 1000)))
		if m.entries >= MaxEntries {
			m.close(st, tocsin.RunbookFailed, msg)
			m.end(tocsin.RunbookFailed, "runbook loops without waiting")
			return
		}
		m.entries++
		st.Attempt++
		m.begin(step, st)
		return
	}
	status, verb := tocsin.RunbookFailed, "failed"
	if timedOut {
		status, verb = tocsin.RunbookTimedOut, "timed out"
	}
	m.close(st, status, msg)
	m.stepEvent(st, fmt.Sprintf("Step %q %s: %s", st.Name, verb, tocsin.Truncate(msg, 1000)))
	switch {
	case step.OnFailure == "Continue":
		m.next(step)
	case strings.HasPrefix(step.OnFailure, "step:"):
		m.pending = strings.TrimPrefix(step.OnFailure, "step:")
	default: // Abort; inside a loop, the loop fails
		if loop := m.doc.parent(step.Name); loop != nil && m.loopFailed(loop, st, msg, timedOut) {
			return
		}
		m.end(status, msg)
	}
}

// close ends a step's run with status.
func (m *machine) close(st *tocsin.RunbookStep, status, msg string) {
	st.Status = status
	st.FailureMessage = msg
	st.EndedAt = m.now
	st.Running = false
	m.changed[st.Seq] = true
}

// complete ends an execution that ran out of steps: Cancelled when a
// cancellation's onCancel step was running, Failed or TimedOut when a
// critical step failed (the last such step decides which, and gives its
// message), else Success.
func (m *machine) complete() {
	if m.exec.Status == tocsin.RunbookCancelling {
		m.end(tocsin.RunbookCancelled, "")
		return
	}
	status, msg := tocsin.RunbookSuccess, ""
	for _, st := range m.exec.Steps {
		s := m.doc.Step(st.Name)
		if s != nil && m.counts(s) && (st.Status == tocsin.RunbookFailed || st.Status == tocsin.RunbookTimedOut) {
			status, msg = st.Status, st.FailureMessage
		}
	}
	m.end(status, msg)
}

// counts reports whether a failure of the step decides the execution's
// status: a critical step's does, but not a nested step's that aborted
// its loop — the loop's failure stands for it.
func (m *machine) counts(s *Step) bool {
	if !s.Critical() {
		return false
	}
	aborts := s.OnFailure == "" || s.OnFailure == "Abort"
	return !aborts || m.doc.parent(s.Name) == nil
}

// end ends the execution with status; a cancellation in progress ends
// Cancelled whatever its onCancel step did.
func (m *machine) end(status, msg string) {
	if m.exec.Status == tocsin.RunbookCancelling && status != tocsin.RunbookCancelled {
		status = tocsin.RunbookCancelled
	}
	m.closeLoops(status, msg)
	e := m.exec
	e.Status = status
	e.FailureMessage = msg
	e.EndedAt = m.now
	e.Current = 0
	e.Outputs = m.outputs()
	m.eff.Ended = e.ParentID != ""
	m.ended = true
	m.pending = ""
	var text string
	switch status {
	case tocsin.RunbookSuccess:
		text = fmt.Sprintf("Runbook %q succeeded", e.Runbook)
	case tocsin.RunbookCancelled:
		text = fmt.Sprintf("Runbook %q was cancelled", e.Runbook)
	case tocsin.RunbookTimedOut:
		text = fmt.Sprintf("Runbook %q timed out: %s", e.Runbook, tocsin.Truncate(msg, 1000))
	default:
		text = fmt.Sprintf("Runbook %q failed: %s", e.Runbook, tocsin.Truncate(msg, 1000))
	}
	m.event(tocsin.EventRunbookEnded, nil, text)
}

// outputs are the document's outputs that the execution produced.
func (m *machine) outputs() map[string]any {
	if len(m.doc.Outputs) == 0 {
		return nil
	}
	vars := m.stepOutputs()
	out := map[string]any{}
	for _, ref := range m.doc.Outputs {
		if v, ok := vars[ref]; ok {
			out[ref] = v
		}
	}
	return out
}

// stepOutputs are the outputs of the steps that succeeded, by
// "Step.Output", a step that ran more than once giving its latest
// success's, and of the aws:loop under way (its CurrentIteration and
// CurrentIteratorValue).
func (m *machine) stepOutputs() map[string]any {
	vars := map[string]any{}
	for _, st := range m.exec.Steps {
		open := st.Action == "aws:loop" && st.Status == tocsin.RunbookInProgress
		if st.Status != tocsin.RunbookSuccess && !open {
			continue
		}
		for k, v := range st.Outputs {
			vars[st.Name+"."+k] = v
		}
	}
	return vars
}

// vars are what {{ }} references in a step's inputs may name: the
// parameters, the steps' outputs, the globals and the incident's fields.
func (m *machine) vars() map[string]any {
	vars := m.stepOutputs()
	for k, v := range m.exec.Parameters {
		vars[k] = v
	}
	for k, v := range Globals(m.now, m.exec.ID) {
		vars[k] = v
	}
	if inc := m.c.Incident; inc != nil {
		vars["incident:ID"] = inc.ID
		vars["incident:TITLE"] = inc.Title
		vars["incident:SUMMARY"] = inc.Summary
		vars["incident:IMPACT"] = int64(inc.Impact)
		vars["incident:STATUS"] = inc.Status
		for k, v := range inc.Labels {
			vars["incident:LABEL."+k] = v
		}
	}
	return vars
}

// event records a timeline event of the execution (st nil: of the
// execution itself), when it runs for an incident.
func (m *machine) event(kind string, st *tocsin.RunbookStep, msg string) {
	if m.exec.IncidentID == "" {
		return
	}
	data := tocsin.RunbookEventData{ExecutionID: m.exec.ID, Runbook: m.exec.Runbook, Status: m.exec.Status}
	if st != nil {
		data.Step, data.Seq, data.Status = st.Name, st.Seq, st.Status
	}
	m.eff.Events = append(m.eff.Events, &tocsin.TimelineEvent{IncidentID: m.exec.IncidentID, At: m.now.UTC(),
		Kind: kind, Actor: m.actor, Message: msg, Data: tocsin.MustJSON(data)})
}

func (m *machine) stepEvent(st *tocsin.RunbookStep, msg string) {
	m.event(tocsin.EventRunbookStep, st, msg)
}

// job queues a job of the step's current attempt.
func (m *machine) job(st *tocsin.RunbookStep, lane string, due time.Time, wake bool) {
	args := tocsin.RunbookStepArgs{ExecutionID: m.exec.ID, Seq: st.Seq, Attempt: st.Attempt, Wake: wake}
	m.eff.Jobs = append(m.eff.Jobs, &tocsin.Job{Kind: tocsin.JobRunbookStep, Lane: lane,
		Key: tocsin.RunbookStepKey(m.exec.ID, st.Seq, st.Attempt), IncidentID: m.exec.IncidentID,
		Args: tocsin.MustJSON(args), DueAt: due})
}
