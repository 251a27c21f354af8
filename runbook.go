package tocsin

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// Runbook is a stored runbook document (an SSM Automation document of
// schema 0.3) in one of its versions. Versions are kept: an execution runs
// the version it started with, whatever is applied later.
type Runbook struct {
	Name string `json:"name"`
	// Version counts from 1; each apply that changes the body adds one.
	Version int `json:"version"`
	// Body is the document as given (YAML or JSON), kept byte for byte so
	// a user reads back what they wrote.
	Body string `json:"body"`
	// Format is "yaml" or "json", Body's encoding.
	Format string `json:"format"`
	// Document is the parsed document as JSON (runbook.Document), what
	// executions run: the API fills it after validating Body, so the store
	// never decodes YAML.
	Document json.RawMessage `json:"document,omitempty"`
	// Description is the document's Markdown description (copied from Body
	// for lists).
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Latest is the newest version number (lists and reads fill it).
	Latest int `json:"latest,omitempty"`
}

// Statuses of a runbook execution and of its steps, AWS's words
// (AutomationExecutionStatus and StepExecution.StepStatus).
const (
	RunbookPending    = "Pending"
	RunbookInProgress = "InProgress"
	RunbookWaiting    = "Waiting"
	RunbookSuccess    = "Success"
	RunbookFailed     = "Failed"
	RunbookTimedOut   = "TimedOut"
	RunbookCancelling = "Cancelling"
	RunbookCancelled  = "Cancelled"
)

// RunbookEnded reports whether status is final: Success, Failed, TimedOut
// or Cancelled.
func RunbookEnded(status string) bool {
	switch status {
	case RunbookSuccess, RunbookFailed, RunbookTimedOut, RunbookCancelled:
		return true
	}
	return false
}

// RunbookExecution is one run of one version of a runbook, usually for an
// incident (a response plan starts it with the incident, or a responder
// starts it by hand).
type RunbookExecution struct {
	ID string `json:"id"`
	// IncidentID is the incident it runs for ("" for a run by hand without
	// one); its timeline records every step's start and end.
	IncidentID string `json:"incident_id,omitempty"`
	Runbook    string `json:"runbook"`
	Version    int    `json:"version"`
	// ParentID and ParentStep name the execution and step of an
	// aws:executeAutomation that started this one.
	ParentID   string `json:"parent_id,omitempty"`
	ParentStep int    `json:"parent_step,omitempty"`
	Status     string `json:"status"`
	// Parameters are the typed parameters, defaults applied.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Outputs are the document's outputs ("step.Output" → value) once it
	// ended.
	Outputs        map[string]any `json:"outputs,omitempty"`
	FailureMessage string         `json:"failure_message,omitempty"`
	// Current is the Seq of the step running or waiting (0: none).
	Current   int       `json:"current_step,omitempty"`
	StartedBy string    `json:"started_by,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Steps are the steps run so far, in the order they ran.
	Steps []*RunbookStep `json:"steps,omitempty"`
	// Row is the stored row's version: a write of an older one is a
	// conflict (two writers of one execution never both win).
	Row int `json:"-"`
}

// RunbookStep is one run of one step of an execution. A step can run more
// than once in an execution (onFailure step:X going back, a loop), so steps
// are keyed by Seq, their order in the execution, from 1.
type RunbookStep struct {
	Seq    int    `json:"seq"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Status string `json:"status"`
	// Attempt counts the attempts made, from 1 (maxAttempts).
	Attempt int `json:"attempt"`
	// Inputs are the step's inputs after interpolation.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Outputs are the step's named outputs (and an action's own: an HTTP
	// step's StatusCode, a script's Payload).
	Outputs        map[string]any `json:"outputs,omitempty"`
	FailureMessage string         `json:"failure_message,omitempty"`
	// WakeAt is when a sleeping step wakes, or a waiting step times out.
	WakeAt time.Time `json:"wake_at,omitzero"`
	// Running is set while an action's attempt is under way (written
	// before it starts): a worker that finds it set after a crash does not
	// run a non-idempotent action again, and says an idempotent one ran
	// again.
	Running bool `json:"-"`
	// Approvals are the answers an aws:approve step got.
	Approvals []RunbookApproval `json:"approvals,omitempty"`
	// ChildID is the execution an aws:executeAutomation step started.
	ChildID   string    `json:"child_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// RunbookApproval is one approver's answer to an aws:approve step.
type RunbookApproval struct {
	By       string    `json:"by"`
	Approved bool      `json:"approved"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// Signals a responder sends a runbook execution.
const (
	// SignalResume continues an aws:pause step.
	SignalResume = "Resume"
	// SignalApprove and SignalReject answer an aws:approve step.
	SignalApprove = "Approve"
	SignalReject  = "Reject"
	// SignalCancel stops the execution (onCancel decides what runs).
	SignalCancel = "Cancel"
)

// RunbookSignal is a responder's signal to an execution.
type RunbookSignal struct {
	ExecutionID string `json:"execution_id"`
	// Type is one of the Signal constants.
	Type    string `json:"type"`
	By      Actor  `json:"by"`
	Comment string `json:"comment,omitempty"`
	// Seq, when set, is the step the signal answers (a chat button's): a
	// signal for a step that is no longer current is refused, so a click
	// on an earlier wait's message never answers a later one.
	Seq int `json:"seq,omitempty"`
}

// Job kinds and lanes of runbook executions.
const (
	// JobRunbookStep runs one attempt of one step (an HTTP call, a
	// script), or wakes it (a sleep's end, a wait's timeout).
	JobRunbookStep = "runbook_step"
	// JobRunbookNotice tells an approver on their contact channels that
	// an aws:approve step waits for them.
	JobRunbookNotice = "runbook_notice"
	// JobRunbookWait tells an incident's team channels that a step waits
	// for a responder (an aws:pause's Resume, an aws:approve's answers),
	// or how that wait ended: its handler queues one notify job
	// (NotifyEventRunbookWaiting) per channel and destination.
	JobRunbookWait = "runbook_wait"
	// RunbookLane runs the steps that only wait (sleeps, timeouts);
	// RunbookHTTPLane and RunbookScriptLane the ones that work, so a slow
	// script never delays a sleep's end.
	RunbookLane       = "runbook"
	RunbookHTTPLane   = "runbook:http"
	RunbookScriptLane = "runbook:script"
)

// RunbookStepArgs are the arguments of a JobRunbookStep job.
type RunbookStepArgs struct {
	ExecutionID string `json:"execution_id"`
	Seq         int    `json:"seq"`
	Attempt     int    `json:"attempt"`
	// Wake says the job is a timer: a sleep ending or a wait timing out.
	Wake bool `json:"wake,omitempty"`
}

// RunbookWait is a step that waits for a responder, as the incident's
// channels are told of it: the arguments of a JobRunbookWait job and of
// its notify jobs (NotifyArgs.Runbook). The machine fills it from the
// document, so no sender reads the document again.
type RunbookWait struct {
	ExecutionID string `json:"execution_id"`
	Runbook     string `json:"runbook"`
	Seq         int    `json:"seq"`
	Attempt     int    `json:"attempt"`
	Step        string `json:"step"`
	// Action is aws:pause (it waits for Resume) or aws:approve.
	Action string `json:"action"`
	// Instructions are the step's Markdown description.
	Instructions string `json:"instructions,omitempty"`
	// Message, Approvers and MinApprovals are an aws:approve step's.
	Message      string   `json:"message,omitempty"`
	Approvers    []string `json:"approvers,omitempty"`
	MinApprovals int      `json:"min_approvals,omitempty"`
	// Ended, when set, says how the wait ended ("Resumed by bob via
	// slack", "Timed out after 300s"): the messages that announced it and
	// can be changed (Slack's) show it in their buttons' place.
	Ended string `json:"ended,omitempty"`
}

// RunbookStepKey is the job key of a step's attempt: one job per attempt.
func RunbookStepKey(executionID string, seq, attempt int) string {
	return JobRunbookStep + ":" + executionID + ":" + strconv.Itoa(seq) + ":" + strconv.Itoa(attempt)
}

// RunbookNoticeArgs are the arguments of a JobRunbookNotice job.
type RunbookNoticeArgs struct {
	ExecutionID string `json:"execution_id"`
	Seq         int    `json:"seq"`
	Contact     string `json:"contact"`
	Message     string `json:"message,omitempty"`
}

// RunbookResult is what one attempt of a step did, recorded with its job's
// completion (JobOutcome.Runbook): the store asks the runbook package what
// follows and applies it in the same transaction.
type RunbookResult struct {
	ExecutionID string `json:"execution_id"`
	Seq         int    `json:"seq"`
	Attempt     int    `json:"attempt"`
	// Woke says a timer fired (a sleep ended, a wait timed out).
	Woke bool `json:"woke,omitempty"`
	// Outputs are the action's result; Error its failure ("" = success).
	Outputs  map[string]any `json:"outputs,omitempty"`
	Error    string         `json:"error,omitempty"`
	TimedOut bool           `json:"timed_out,omitempty"`
	// Interrupted says the attempt found the step Running after a crash:
	// the action is not idempotent, so it is not run again.
	Interrupted bool `json:"interrupted,omitempty"`
	// Rerun says the attempt ran again after a crash or a shutdown
	// interrupted it (its action is idempotent): the timeline says so.
	Rerun bool `json:"rerun,omitempty"`
}

// RunbookFilter selects executions for a list.
type RunbookFilter struct {
	IncidentID string
	Runbook    string
	Status     []string
	Limit      int
}

// RunbookStore keeps runbook documents and their executions.
type RunbookStore interface {
	// PutRunbook stores a new version when body differs from the latest
	// one; it returns the stored version (and whether it is new).
	PutRunbook(ctx context.Context, rb *Runbook) (*Runbook, bool, error)
	// Runbook returns a version (0: the latest).
	Runbook(ctx context.Context, name string, version int) (*Runbook, error)
	Runbooks(ctx context.Context) ([]*Runbook, error)
	// DeleteRunbook removes a runbook and its versions; executions keep
	// their copy. It fails with ECONFLICT while a response plan names it.
	DeleteRunbook(ctx context.Context, name string) error
	// StartRunbook starts an execution of the latest version with the
	// given parameters (values as text, AWS's map of lists).
	StartRunbook(ctx context.Context, req RunbookStart) (*RunbookExecution, error)
	// SignalRunbook applies a responder's signal. It fails with ECONFLICT
	// when the execution is not waiting for that signal and EFORBIDDEN
	// when the actor may not give it (not an approver), changing nothing.
	SignalRunbook(ctx context.Context, sig RunbookSignal) (*RunbookExecution, error)
	RunbookExecution(ctx context.Context, id string) (*RunbookExecution, error)
	RunbookExecutions(ctx context.Context, f RunbookFilter) ([]*RunbookExecution, error)
}

// RunbookStart asks for an execution.
type RunbookStart struct {
	Runbook    string              `json:"runbook"`
	IncidentID string              `json:"incident_id,omitempty"`
	Parameters map[string][]string `json:"parameters,omitempty"`
	By         Actor               `json:"by"`
}

// Timeline event kinds of runbook executions.
const (
	EventRunbookStarted = "runbook_started"
	EventRunbookStep    = "runbook_step"
	EventRunbookEnded   = "runbook_ended"
)

// RunbookEventData is the Data of a runbook timeline event.
type RunbookEventData struct {
	ExecutionID string `json:"execution_id"`
	Runbook     string `json:"runbook"`
	Step        string `json:"step,omitempty"`
	Seq         int    `json:"seq,omitempty"`
	Status      string `json:"status"`
}
