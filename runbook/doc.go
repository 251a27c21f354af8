// Package runbook reads and checks SSM Automation documents of schema 0.3
// (AWS Incident Manager's runbooks) and decides what their steps mean. It
// is pure: no clock, no storage, no network, no YAML (the caller decodes
// YAML into a map and calls FromMap, or passes JSON to Parse).
//
// # Rules
//
//   - Parse refuses unknown keys; assumeRole and files are accepted and
//     ignored, so AWS documents load unchanged.
//   - Validate returns every problem with its path: schemaVersion "0.3";
//     unique step names (letters, digits, _); nextStep, onFailure step:X,
//     onCancel step:X, branch NextStep and Default name existing steps;
//     branch operators are StringEquals, EqualsIgnoreCase, StartsWith,
//     EndsWith, Contains, Numeric{Equals,Greater,Lesser,GreaterOrEquals,
//     LesserOrEquals}, BooleanEquals, And, Or, Not; parameter types and
//     defaults match (type, allowedValues, allowedPattern, min/max items
//     and chars); only the actions in Actions are run, any other is refused
//     naming its step; aws:sleep takes an ISO 8601 Duration of at most 7
//     days or an RFC 3339 Timestamp. Values holding {{ }} are checked when
//     the execution runs, not at apply.
//   - aws:loop takes one of Iterators (a list, or a {{ }} reference to
//     one; IteratorDataType String, Integer, Boolean or StringMap) or
//     LoopCondition (one condition of aws:branch's operators, And, Or,
//     Not), MaxIterations (default 100, at most 1000) and Steps, the
//     nested steps, each checked as any step with its path
//     (mainSteps[1].inputs.Steps[0].nextStep). Step names are unique
//     across the whole document; a nested step's nextStep, onFailure
//     step:X, onCancel step:X and branch targets name steps of the same
//     loop, and no step outside a loop names one inside it. Loops do not
//     nest, and an aws:loop takes no onCancel (AWS's rule),
//     timeoutSeconds or outputs: its nested steps take them.
//   - Params types an execution's parameters and applies defaults.
//   - Interpolate replaces {{ name }} in one pass: substituted values are
//     data and never expanded again.
//   - EvalBranch: the first choice that holds wins, else Default, else ""
//     (the next step).
//
// # The step machine
//
// Start, Advance (a job's result), Signal (a responder's) and ChildEnded
// (a nested execution's end) decide what happens to an execution and
// return it as Effects for the store to apply in one transaction; they
// read no clock and work on a copy, so a refused decision changes
// nothing.
//
//   - Statuses are AWS's. A step is InProgress while it runs or sleeps,
//     Waiting while an aws:pause or aws:approve waits; the execution is
//     Waiting when its current step waits, else InProgress, and
//     Cancelling while the onCancel step of a cancelled step runs. It
//     ends Success, Failed, TimedOut or Cancelled; Current is then 0.
//   - Entering a step appends a run (Seq counts runs from 1, Attempt from
//     1) with its inputs interpolated from the parameters, the outputs of
//     the steps that succeeded ("Step.Output", a step run twice giving its
//     latest success's), the globals and the incident (incident:ID,
//     incident:TITLE, incident:SUMMARY, incident:IMPACT, incident:STATUS,
//     incident:LABEL.<key>). An unknown reference fails the step; a branch
//     only fails when the choice it reaches names one.
//   - aws:pause waits for Resume; aws:sleep arms a timer (a time past
//     succeeds at once); aws:approve waits, tells each approver
//     (JobRunbookNotice) and succeeds with MinRequiredApprovals (default
//     1) approvals, outputs ApprovalStatus and ApproverDecisions; only an
//     approver may answer, once; one rejection fails the step. A wait's
//     timeoutSeconds arms a timer whose firing times the step out.
//     aws:branch decides at once. aws:executeAutomation starts a child
//     (Effects.Children) and succeeds or fails with it (outputs
//     ExecutionId, Status, Output). tocsin:http and tocsin:script queue a
//     job in their lane; their result's declared outputs are selected by
//     JSONPath (SelectOutput) and typed, with StatusCode or Payload kept.
//   - aws:loop runs its nested steps as a runbook of their own, once per
//     item of Iterators, or again while LoopCondition holds after an
//     iteration (do while: the first always runs), at most MaxIterations
//     times — reaching it ends the loop a success, as AWS's does, with
//     items left or the condition still true. The loop's run stays
//     InProgress while its steps run, each a run of its own (a new Seq
//     every iteration); its outputs CurrentIteration (from 1) and, over
//     Iterators, CurrentIteratorValue are readable inside the loop and
//     after it, and a nested step's outputs of its latest success as
//     "Inner.Output". Inside the loop isEnd or the last step ends the
//     iteration; after the loop its own nextStep or isEnd applies. A
//     nested step's failure follows its onFailure; Abort fails the loop
//     (its maxAttempts runs it again from the first iteration), then the
//     loop's onFailure decides, and the nested step's failure counts
//     only through the loop's. A nested step cancelled runs its onCancel
//     step:X (of the same loop) and the iteration goes on from X, then the
//     loop ends Cancelled rather than iterate again and the execution goes
//     on after it, as after any onCancel step; an execution that ends
//     while a loop is open ends the loop's run with it.
//   - Every job of a step's attempt has the key RunbookStepKey(execution,
//     seq, attempt): a result or timer of another attempt, of a step no
//     longer current or of an ended execution is stale and changes
//     nothing.
//   - A failed attempt with attempts left (maxAttempts) runs again, its
//     job due at once and its timer re-armed. Failures that would recur
//     are not retried: an unknown reference or bad input, a rejection, an
//     action interrupted by a restart that is not Idempotent. The last
//     failure fails the step (TimedOut when it timed out), then onFailure:
//     Abort ends the execution Failed (TimedOut when the step timed out),
//     Continue goes on as after a success, step:X runs X.
//   - After the last step, or a step with isEnd: Failed when a step that
//     is Critical failed or timed out — TimedOut when the last such step
//     timed out, with its message — else Success. A cancellation whose
//     onCancel step ran ends Cancelled whatever that step did.
//   - Cancel ends the current step Cancelled, cancels its jobs and its
//     child, then runs its onCancel step:X or ends the execution now; a
//     second Cancel ends it at once. Resume, Approve and Reject are
//     ECONFLICT unless the current step waits for them.
//   - Steps that finish at once chain within one decision, at most
//     MaxEntries of them: beyond, the execution fails with "runbook loops
//     without waiting".
//   - Timeline events go on the incident (none without one): the start,
//     each step's start and end (and retries, reruns), the end; the
//     responder who signalled is the actor until the execution moves on to
//     another step.
//   - Allowed holds a document to the configuration, an aws:loop's
//     nested steps included: tocsin:http only to
//     URLs under runbooks.http.allow (a URL with {{ }} must spell its
//     scheme and host), tocsin:script only with runbooks.scripts.enabled
//     and its interpreter in runbooks.scripts.interpreters.
//   - Dynamic resolves a response plan's dynamic parameters from the
//     incident.
package runbook
