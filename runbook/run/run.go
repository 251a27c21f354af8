// Package run holds the job handlers of runbook executions: HandleStep
// runs one attempt of a step that works (tocsin:http, tocsin:script) or
// reports a step's timer, and HandleNotice tells an approver that an
// aws:approve step waits for them. Like every handler, each returns one
// tocsin.JobOutcome; what follows a step's attempt is decided by the
// runbook package when the store records the outcome (JobOutcome.Runbook).
// The one other write is a step's claim before its action runs, so a
// crash mid-run never runs a non-idempotent action twice, and an
// idempotent one run again says so.
package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"tocsin"
	"tocsin/engine"
	"tocsin/runbook"
	"tocsin/runbook/action"
)

// Store is what the runner reads and the one write it makes.
type Store interface {
	// RunbookRun returns an execution (its steps included) and the
	// document of the version it runs.
	RunbookRun(ctx context.Context, id string) (*tocsin.RunbookExecution, *runbook.Document, error)
	// ClaimRunbookStep marks an attempt of a step running before its
	// action starts (tocsin.RunbookStep.Running) and says whether it was
	// already marked: a crash or a shutdown interrupted that attempt.
	ClaimRunbookStep(ctx context.Context, id string, seq, attempt int) (wasRunning bool, err error)
}

// Timeouts of a step's action.
const (
	// DefaultTimeout is an action's time when its step sets no
	// timeoutSeconds.
	DefaultTimeout = 600 * time.Second
	// MaxScriptTimeout caps a script's time, whatever timeoutSeconds says.
	MaxScriptTimeout = 600 * time.Second
	// MaxHTTPTimeout caps an HTTP call's time the same way, so no action
	// outlives the worker's bound on a runbook step (JobTimeout).
	MaxHTTPTimeout = 600 * time.Second
	// JobTimeout is the bound the worker must give a JobRunbookStep job:
	// the longest action and the time to record its result.
	JobTimeout = max(MaxScriptTimeout, MaxHTTPTimeout) + time.Minute
)

// Runner runs runbook steps' jobs. HTTP and Script are the actions the
// configuration enables (nil: disabled, and a step of that action fails
// saying which key enables it).
type Runner struct {
	Store  Store
	HTTP   *action.HTTP
	Script *action.Script
	// Notify sends a notice to a contact and returns the job's outcome,
	// the notice recorded on the contact's record (engage's
	// Engine.NotifyContact).
	Notify func(ctx context.Context, job *tocsin.Job, contact, subject, text string) tocsin.JobOutcome
	// IncidentURL, when set, returns a link to an incident's page for the
	// approvers' notices.
	IncidentURL func(incidentID string) string
	Now         func() time.Time
	Log         *slog.Logger
}

// HandleStep runs a JobRunbookStep job. A timer (Wake) reports that it
// fired. An attempt of tocsin:http or tocsin:script runs the action with
// the step's interpolated inputs, in the step's time (timeoutSeconds,
// default DefaultTimeout; scripts at most MaxScriptTimeout), and reports
// its outputs or its error. Before the action runs, the step's attempt is
// claimed: one found claimed was interrupted (a crash, a shutdown) and is
// reported Interrupted without running again when its action is not
// idempotent, or runs again and is reported as a Rerun when it is.
// A job for an execution that ended, a step no longer current or an
// attempt not the latest changes nothing.
func (r *Runner) HandleStep(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.RunbookStepArgs
	if err := json.Unmarshal(job.Args, &args); err != nil || args.ExecutionID == "" {
		r.log().Error("runbook step job with bad arguments", "job_id", job.ID, "err", err)
		return tocsin.JobOutcome{}
	}
	exec, doc, err := r.Store.RunbookRun(ctx, args.ExecutionID)
	if err != nil {
		return r.retry(job, fmt.Errorf("load runbook execution: %w", err))
	}
	st := openStep(exec, args.Seq, args.Attempt)
	if st == nil {
		return tocsin.JobOutcome{} // stale: the execution moved on
	}
	res := &tocsin.RunbookResult{ExecutionID: exec.ID, Seq: st.Seq, Attempt: st.Attempt}
	if args.Wake {
		res.Woke = true
		return tocsin.JobOutcome{Runbook: res}
	}
	step := doc.Step(st.Name)
	if step == nil {
		res.Error = fmt.Sprintf("step %q is not in version %d of runbook %s", st.Name, exec.Version, exec.Runbook)
		return tocsin.JobOutcome{Runbook: res}
	}
	// Checked again here: a document applied before the check existed,
	// or under another policy, may still hold one.
	if err := runbook.ScriptReferences(step); err != nil {
		res.Error = tocsin.ErrorText(err)
		return tocsin.JobOutcome{Runbook: res}
	}
	act, limit, err := r.action(st.Action)
	if err != nil {
		res.Error = tocsin.ErrorText(err)
		return tocsin.JobOutcome{Runbook: res}
	}
	// Every attempt is claimed before its action starts, idempotent or
	// not: the claim, not the job's count of claims, tells an attempt
	// that was interrupted (a job handed back at a shutdown does not
	// count the claim it lost, and one re-armed before it ran counts one
	// that ran nothing).
	was, err := r.Store.ClaimRunbookStep(ctx, exec.ID, st.Seq, st.Attempt)
	switch code := tocsin.ErrorCode(err); {
	case code == tocsin.ECONFLICT || code == tocsin.ENOTFOUND:
		return tocsin.JobOutcome{} // the step moved on meanwhile
	case err != nil:
		return r.retry(job, fmt.Errorf("claim runbook step: %w", err))
	case was && !runbook.Idempotent(step):
		r.log().Warn("runbook step interrupted, not run again", "execution_id", exec.ID, "step", st.Name, "action", st.Action, "attempt", st.Attempt)
		res.Interrupted = true
		res.Error = fmt.Sprintf("interrupted by a restart; %s is not idempotent, not run again", st.Action)
		return tocsin.JobOutcome{Runbook: res}
	case was:
		res.Rerun = true
	}
	return r.runAction(ctx, job, res, act, st.Inputs, timeout(step, limit))
}

// runAction runs the action in its time and reports what it did. An
// action cut short by a shutdown (ctx cancelled, not timed out) is handed
// back to run again rather than failed: its step's claim says, next time,
// whether it may.
func (r *Runner) runAction(ctx context.Context, job *tocsin.Job, res *tocsin.RunbookResult, act actionFunc, inputs map[string]any, d time.Duration) tocsin.JobOutcome {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		// The worker's own bound on a job (engine.Worker.JobTimeout) comes
		// first: say so rather than name a time that was not given.
		d = time.Until(dl).Round(time.Second)
	}
	actx, cancel := context.WithTimeout(ctx, d)
	outputs, err := act(actx, inputs)
	timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return tocsin.JobOutcome{RetryAt: r.now(), Error: "interrupted by a shutdown"}
	}
	res.Outputs = outputs
	if err != nil {
		res.Error = tocsin.ErrorText(err)
		if timedOut {
			res.TimedOut = true
			res.Error = fmt.Sprintf("timed out after %s: %s", d, res.Error)
		}
	}
	if res.Rerun {
		r.log().Info("runbook step ran again after an interruption", "execution_id", res.ExecutionID, "seq", res.Seq, "attempt", res.Attempt, "job_attempts", job.Attempts)
	}
	return tocsin.JobOutcome{Runbook: res}
}

type actionFunc func(ctx context.Context, inputs map[string]any) (map[string]any, error)

// action returns the action that runs name and the cap on its time
// (0: none), or why it does not run.
func (r *Runner) action(name string) (actionFunc, time.Duration, error) {
	switch name {
	case "tocsin:http":
		if r.HTTP == nil {
			return nil, 0, tocsin.Errorf(tocsin.EFORBIDDEN, "tocsin:http is disabled: list the URL prefixes it may call in runbooks.http.allow")
		}
		return r.HTTP.Run, MaxHTTPTimeout, nil
	case "tocsin:script":
		if r.Script == nil {
			return nil, 0, tocsin.Errorf(tocsin.EFORBIDDEN, "tocsin:script is disabled: set runbooks.scripts.enabled: true")
		}
		return r.Script.Run, MaxScriptTimeout, nil
	}
	return nil, 0, tocsin.Errorf(tocsin.EINVALID, "action %s does not run as a job", name)
}

// timeout is the step's time: timeoutSeconds, else DefaultTimeout, at
// most limit when there is one.
func timeout(step *runbook.Step, limit time.Duration) time.Duration {
	d := DefaultTimeout
	if step.TimeoutSeconds > 0 {
		d = time.Duration(step.TimeoutSeconds) * time.Second
	}
	if limit > 0 {
		d = min(d, limit)
	}
	return d
}

// openStep returns the step with that seq when it is the execution's
// current step, still open, at that attempt; nil when the job is stale.
func openStep(exec *tocsin.RunbookExecution, seq, attempt int) *tocsin.RunbookStep {
	if tocsin.RunbookEnded(exec.Status) || exec.Current != seq {
		return nil
	}
	st := stepBySeq(exec, seq)
	if st == nil || st.Attempt != attempt || tocsin.RunbookEnded(st.Status) {
		return nil
	}
	return st
}

func stepBySeq(exec *tocsin.RunbookExecution, seq int) *tocsin.RunbookStep {
	for _, st := range exec.Steps {
		if st != nil && st.Seq == seq {
			return st
		}
	}
	return nil
}

// retry re-arms the job after engine.Backoff, as other handlers do; an
// execution that no longer exists ends it.
func (r *Runner) retry(job *tocsin.Job, err error) tocsin.JobOutcome {
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{}
	}
	return tocsin.JobOutcome{RetryAt: r.now().Add(engine.Backoff(job.Attempts, 0, rand.Float64())), Error: err.Error()}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}
