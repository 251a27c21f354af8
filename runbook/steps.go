package runbook

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// begin starts an attempt of a step's run: its inputs interpolated, then
// what its action does first. Steps that finish at once (a branch, a
// sleep already over) succeed here and set what runs next.
func (m *machine) begin(step *Step, st *tocsin.RunbookStep) {
	st.Status = tocsin.RunbookInProgress
	st.Running = false
	st.Outputs, st.Approvals, st.ChildID, st.FailureMessage = nil, nil, "", ""
	st.WakeAt, st.EndedAt = time.Time{}, time.Time{}
	m.changed[st.Seq] = true
	in, err := m.inputs(step)
	if err != nil {
		st.Inputs = maps.Clone(step.Inputs)
		// A branch may name outputs of steps that did not run on this
		// path: only the choices EvalBranch reaches must resolve.
		if step.Action != "aws:branch" {
			m.stepEvent(st, fmt.Sprintf("Step %q (%s) started", st.Name, st.Action))
			m.fail(step, st, err.Error(), false, false)
			return
		}
	} else {
		st.Inputs = in
	}
	switch step.Action {
	case "aws:pause":
		st.Status = tocsin.RunbookWaiting
		m.armTimeout(step, st)
		m.announce(step, st)
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:pause) is waiting for Resume", st.Name))
	case "aws:sleep":
		m.sleep(step, st)
	case "aws:approve":
		m.ask(step, st)
	case "aws:branch":
		m.branch(step, st)
	case "aws:executeAutomation":
		m.nest(step, st)
	case "aws:loop":
		m.loop(step, st)
	case "tocsin:http":
		m.job(st, tocsin.RunbookHTTPLane, m.now, false)
		m.stepEvent(st, fmt.Sprintf("Step %q (tocsin:http) started", st.Name))
	case "tocsin:script":
		m.job(st, tocsin.RunbookScriptLane, m.now, false)
		m.stepEvent(st, fmt.Sprintf("Step %q (tocsin:script) started", st.Name))
	default:
		m.stepEvent(st, fmt.Sprintf("Step %q (%s) started", st.Name, st.Action))
		m.fail(step, st, fmt.Sprintf("action %q is not supported", step.Action), false, false)
	}
}

// inputs are the step's inputs with their {{ }} references replaced; an
// error names the input and the reference.
func (m *machine) inputs(step *Step) (map[string]any, error) {
	if len(step.Inputs) == 0 {
		return nil, nil
	}
	vars := m.vars()
	out := make(map[string]any, len(step.Inputs))
	for _, k := range sorted(keys(step.Inputs)) {
		if step.Action == "aws:loop" && (k == "Steps" || k == "LoopCondition") {
			continue // their references are resolved as each nested step runs, and after each iteration
		}
		var v any
		var err error
		if step.Action == "tocsin:http" {
			v, err = httpInputs(k, step.Inputs[k], vars)
		} else {
			v, err = Interpolate(step.Inputs[k], vars)
		}
		if err != nil {
			return nil, fmt.Errorf("input %s: %s", k, tocsin.ErrorText(err))
		}
		out[k] = v
	}
	return out, nil
}

// armTimeout arms the timer of a wait (aws:pause, aws:approve) or a
// nested execution whose step has timeoutSeconds.
func (m *machine) armTimeout(step *Step, st *tocsin.RunbookStep) {
	if step.TimeoutSeconds <= 0 {
		return
	}
	st.WakeAt = m.now.Add(time.Duration(step.TimeoutSeconds) * time.Second)
	m.job(st, tocsin.RunbookLane, st.WakeAt, true)
}

// cancelTimer cancels the timer of the step's current attempt, if armed.
func (m *machine) cancelTimer(st *tocsin.RunbookStep) {
	if !st.WakeAt.IsZero() {
		m.eff.Cancel = append(m.eff.Cancel, tocsin.RunbookStepKey(m.exec.ID, st.Seq, st.Attempt))
	}
}

// hasTimer reports whether the step's current attempt armed a timer
// (a sleep, or a wait with timeoutSeconds).
func hasTimer(st *tocsin.RunbookStep) bool { return !st.WakeAt.IsZero() }

func (m *machine) sleep(step *Step, st *tocsin.RunbookStep) {
	wake, err := sleepUntil(st.Inputs, m.now)
	if err != nil {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:sleep) started", st.Name))
		m.fail(step, st, err.Error(), false, false)
		return
	}
	if !wake.After(m.now) {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:sleep) started: %s has passed", st.Name, wake.UTC().Format(time.RFC3339)))
		m.succeed(step, st, "")
		return
	}
	st.WakeAt = wake
	m.job(st, tocsin.RunbookLane, wake, true)
	m.stepEvent(st, fmt.Sprintf("Step %q (aws:sleep) sleeps until %s", st.Name, wake.UTC().Format(time.RFC3339)))
}

// sleepUntil reads when an aws:sleep ends from its interpolated inputs.
func sleepUntil(in map[string]any, now time.Time) (time.Time, error) {
	if v, ok := in["Duration"]; ok {
		s, _ := v.(string)
		d, err := ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("input Duration: %w", err)
		}
		if d > MaxSleep {
			return time.Time{}, fmt.Errorf("input Duration: %s is longer than 7 days", s)
		}
		return now.Add(d), nil
	}
	if v, ok := in["Timestamp"]; ok {
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("input Timestamp: %q is not a timestamp like 2024-01-02T15:04:05Z", s)
		}
		if t.Sub(now) > MaxSleep {
			return time.Time{}, fmt.Errorf("input Timestamp: %s is more than 7 days away", s)
		}
		return t, nil
	}
	return time.Time{}, errors.New("aws:sleep takes one of Duration or Timestamp")
}

// ask starts an aws:approve step: it waits, and each approver is told.
func (m *machine) ask(step *Step, st *tocsin.RunbookStep) {
	approvers := names(st.Inputs["Approvers"])
	need, err := minApprovals(st.Inputs["MinRequiredApprovals"])
	if err == nil && len(approvers) == 0 {
		err = errors.New("input Approvers: no approvers")
	}
	if err == nil && need > len(approvers) {
		err = fmt.Errorf("input MinRequiredApprovals: %d is more than the %d approvers", need, len(approvers))
	}
	if err != nil {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:approve) started", st.Name))
		m.fail(step, st, err.Error(), false, false)
		return
	}
	st.Status = tocsin.RunbookWaiting
	m.armTimeout(step, st)
	msg, _ := st.Inputs["Message"].(string)
	for _, a := range approvers {
		args := tocsin.RunbookNoticeArgs{ExecutionID: m.exec.ID, Seq: st.Seq, Contact: a, Message: msg}
		m.eff.Jobs = append(m.eff.Jobs, &tocsin.Job{Kind: tocsin.JobRunbookNotice, Lane: tocsin.RunbookLane,
			IncidentID: m.exec.IncidentID, Args: tocsin.MustJSON(args), DueAt: m.now})
	}
	m.announce(step, st)
	m.stepEvent(st, fmt.Sprintf("Step %q (aws:approve) is waiting for %d approval(s) of %s", st.Name, need, strings.Join(approvers, ", ")))
}

// announce queues the JobRunbookWait that tells the incident's team
// channels the step waits for a responder, with its instructions (an
// approval's Message too) and who may answer. An execution without an
// incident has no team to tell: its approvers still hear of it.
func (m *machine) announce(step *Step, st *tocsin.RunbookStep) {
	m.tell(m.wait(step, st))
}

// waitEnded queues the JobRunbookWait that tells the incident's channels
// how the step's current wait ended, so the messages that announced it
// lose their buttons whoever answered, and wherever.
func (m *machine) waitEnded(step *Step, st *tocsin.RunbookStep, how string) {
	w := m.wait(step, st)
	w.Ended = how
	m.tell(w)
}

// wait is the step's current wait as its messages show it.
func (m *machine) wait(step *Step, st *tocsin.RunbookStep) tocsin.RunbookWait {
	w := tocsin.RunbookWait{ExecutionID: m.exec.ID, Runbook: m.exec.Runbook, Seq: st.Seq, Attempt: st.Attempt,
		Step: st.Name, Action: st.Action, Instructions: step.Description}
	if st.Action == "aws:approve" {
		w.Approvers = names(st.Inputs["Approvers"])
		w.MinApprovals, _ = minApprovals(st.Inputs["MinRequiredApprovals"])
		w.Message, _ = st.Inputs["Message"].(string)
	}
	return w
}

// tell queues w's JobRunbookWait when the execution runs for an incident.
func (m *machine) tell(w tocsin.RunbookWait) {
	if m.exec.IncidentID == "" {
		return
	}
	m.eff.Jobs = append(m.eff.Jobs, &tocsin.Job{Kind: tocsin.JobRunbookWait, Lane: tocsin.RunbookLane,
		IncidentID: m.exec.IncidentID, Args: tocsin.MustJSON(w), DueAt: m.now})
}

// by is who caused the decision, for a wait's end.
func (m *machine) by() string {
	if m.actor == "" {
		return "a responder"
	}
	return m.actor
}

// names reads the approvers: a list, or one name.
func names(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s := textOf(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

// minApprovals reads MinRequiredApprovals, AWS's default 1.
func minApprovals(v any) (int, error) {
	if v == nil {
		return 1, nil
	}
	n, err := toNumber(v)
	if err != nil || n < 1 || n != float64(int64(n)) {
		return 0, fmt.Errorf("input MinRequiredApprovals: %s is not a whole number of at least 1", textOf(v))
	}
	return int(n), nil
}

// decisions are an aws:approve step's ApproverDecisions output.
func decisions(as []tocsin.RunbookApproval) []any {
	out := make([]any, len(as))
	for i, a := range as {
		d := "Reject"
		if a.Approved {
			d = "Approve"
		}
		out[i] = map[string]any{"Approver": a.By, "Decision": d, "Comment": a.Comment}
	}
	return out
}

// branch evaluates an aws:branch step at once.
func (m *machine) branch(step *Step, st *tocsin.RunbookStep) {
	m.stepEvent(st, fmt.Sprintf("Step %q (aws:branch) started", st.Name))
	choices, probs := ParseChoices(step.Inputs["Choices"], "input Choices")
	if len(probs) > 0 {
		m.fail(step, st, tocsin.ErrorText(probs.Err()), false, false)
		return
	}
	def, _ := step.Inputs["Default"].(string)
	next, err := EvalBranch(choices, def, m.vars())
	if err != nil {
		m.fail(step, st, tocsin.ErrorText(err), false, false)
		return
	}
	m.succeed(step, st, next)
}

// nest starts the nested execution of an aws:executeAutomation step.
func (m *machine) nest(step *Step, st *tocsin.RunbookStep) {
	name, _ := st.Inputs["DocumentName"].(string)
	version, err := docVersion(st.Inputs["DocumentVersion"])
	var params map[string][]string
	if err == nil {
		params, err = runtimeParams(st.Inputs["RuntimeParameters"])
	}
	if err == nil && strings.TrimSpace(name) == "" {
		err = errors.New("input DocumentName: no runbook named")
	}
	if err != nil {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:executeAutomation) started", st.Name))
		m.fail(step, st, err.Error(), false, false)
		return
	}
	if m.c.NewID == nil {
		m.err = tocsin.Errorf(tocsin.EINTERNAL, "runbook: aws:executeAutomation needs Context.NewID")
		return
	}
	st.ChildID = m.c.NewID()
	m.eff.Children = append(m.eff.Children, Child{ID: st.ChildID, Runbook: name, Version: version, Parameters: params, ParentStep: st.Seq})
	m.armTimeout(step, st)
	m.stepEvent(st, fmt.Sprintf("Step %q (aws:executeAutomation) started runbook %q as execution %s", st.Name, name, st.ChildID))
}

// docVersion reads DocumentVersion: a number, or $LATEST / $DEFAULT
// (AWS's words for the newest version, which tocsin's is) for 0.
func docVersion(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case string:
		if x == "" || x == "$LATEST" || x == "$DEFAULT" {
			return 0, nil
		}
		if n, err := strconv.Atoi(x); err == nil && n > 0 {
			return n, nil
		}
	case int64, float64:
		if n, err := toNumber(x); err == nil && n >= 1 && n == float64(int(n)) {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("input DocumentVersion: %s is not a version number", textOf(v))
}

// runtimeParams turns RuntimeParameters into a nested start's text
// lists: a list gives one value per item, anything else one value (maps
// as JSON).
func runtimeParams(v any) (map[string][]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("input RuntimeParameters: must be a map, is %s", kindOf(v))
	}
	out := make(map[string][]string, len(m))
	for k, e := range m {
		if l, ok := e.([]any); ok {
			vals := make([]string, len(l))
			for i, x := range l {
				vals[i] = textOf(x)
			}
			out[k] = vals
			continue
		}
		out[k] = []string{textOf(e)}
	}
	return out, nil
}

// worked records the result of an HTTP call or a script: the action's
// own output (StatusCode, Payload) and the step's declared outputs
// selected from it.
func (m *machine) worked(step *Step, st *tocsin.RunbookStep, raw map[string]any) {
	outs := ownOutput(step, raw)
	if outs == nil {
		outs = map[string]any{}
	}
	for _, o := range step.Outputs {
		v, err := SelectOutput(o, raw)
		if err != nil {
			st.Outputs = outs
			m.fail(step, st, tocsin.ErrorText(err), false, true)
			return
		}
		outs[o.Name] = v
	}
	st.Outputs = outs
	m.succeed(step, st, "")
}

// ownOutput is the action's own output kept with the step's: an HTTP
// call's StatusCode, a script's Payload (nil when the result has none).
func ownOutput(step *Step, raw map[string]any) map[string]any {
	own := "StatusCode"
	if step.Action == "tocsin:script" {
		own = "Payload"
	}
	v, ok := raw[own]
	if !ok {
		return nil
	}
	c, err := canonical(v)
	if err != nil {
		c = textOf(v)
	}
	return map[string]any{own: c}
}

// woke handles a timer of the step's attempt: a sleep ends, a wait or a
// nested execution times out.
func (m *machine) woke(step *Step, st *tocsin.RunbookStep) {
	switch step.Action {
	case "aws:sleep":
		m.succeed(step, st, "")
	case "aws:pause":
		m.waitEnded(step, st, fmt.Sprintf("Timed out after %ds", step.TimeoutSeconds))
		m.fail(step, st, fmt.Sprintf("timed out after %ds waiting for Resume", step.TimeoutSeconds), true, true)
	case "aws:approve":
		m.waitEnded(step, st, fmt.Sprintf("Timed out after %ds", step.TimeoutSeconds))
		st.Outputs = map[string]any{"ApprovalStatus": "Waiting", "ApproverDecisions": decisions(st.Approvals)}
		m.fail(step, st, fmt.Sprintf("timed out after %ds waiting for approvals", step.TimeoutSeconds), true, true)
	case "aws:executeAutomation":
		if st.ChildID != "" {
			m.eff.CancelChildren = append(m.eff.CancelChildren, st.ChildID)
		}
		m.fail(step, st, fmt.Sprintf("timed out after %ds waiting for execution %s", step.TimeoutSeconds, st.ChildID), true, true)
	default:
		m.fail(step, st, fmt.Sprintf("timed out after %ds", step.TimeoutSeconds), true, true)
	}
}

// openStep returns the current step, its document step, or ECONFLICT
// saying what the execution is not waiting for.
func (m *machine) openStep(action, status, what string) (*Step, *tocsin.RunbookStep, error) {
	st := current(m.exec)
	if st == nil || st.Action != action || st.Status != status {
		return nil, nil, tocsin.Errorf(tocsin.ECONFLICT, "runbook execution %s is not %s", m.exec.ID, what)
	}
	step := m.doc.Step(st.Name)
	if step == nil {
		return nil, nil, tocsin.Errorf(tocsin.EINVALID, "runbook %s: step %q is not in the document", m.exec.Runbook, st.Name)
	}
	return step, st, nil
}

// resume continues an aws:pause.
func (m *machine) resume() error {
	step, st, err := m.openStep("aws:pause", tocsin.RunbookWaiting, "waiting at a pause")
	if err != nil {
		return err
	}
	m.cancelTimer(st)
	m.waitEnded(step, st, "Resumed by "+m.by())
	m.succeed(step, st, "")
	return nil
}

// answer records an approver's answer to an aws:approve step.
func (m *machine) answer(sig tocsin.RunbookSignal) error {
	step, st, err := m.openStep("aws:approve", tocsin.RunbookWaiting, "waiting for an approval")
	if err != nil {
		return err
	}
	who := sig.By.Name
	approvers := names(st.Inputs["Approvers"])
	if who == "" || !slices.Contains(approvers, who) {
		return tocsin.Errorf(tocsin.EFORBIDDEN, "%q is not an approver of step %q (approvers: %s)", who, st.Name, strings.Join(approvers, ", "))
	}
	for _, a := range st.Approvals {
		if a.By == who {
			return tocsin.Errorf(tocsin.ECONFLICT, "%s has already answered step %q", who, st.Name)
		}
	}
	approved := sig.Type == tocsin.SignalApprove
	st.Approvals = append(st.Approvals, tocsin.RunbookApproval{By: who, Approved: approved, Comment: sig.Comment, At: m.now})
	m.changed[st.Seq] = true
	if !approved {
		st.Outputs = map[string]any{"ApprovalStatus": "Rejected", "ApproverDecisions": decisions(st.Approvals)}
		m.cancelTimer(st)
		m.waitEnded(step, st, "Rejected by "+m.by())
		msg := "rejected by " + who
		if sig.Comment != "" {
			msg += ": " + sig.Comment
		}
		m.fail(step, st, msg, false, false)
		return nil
	}
	need, err := minApprovals(st.Inputs["MinRequiredApprovals"])
	if err != nil {
		need = 1 // checked when the step began
	}
	got := 0
	for _, a := range st.Approvals {
		if a.Approved {
			got++
		}
	}
	if got < need {
		st.Outputs = map[string]any{"ApprovalStatus": "Waiting", "ApproverDecisions": decisions(st.Approvals)}
		m.stepEvent(st, fmt.Sprintf("Step %q approved by %s (%d of %d approvals)", st.Name, who, got, need))
		return nil
	}
	st.Outputs = map[string]any{"ApprovalStatus": "Approved", "ApproverDecisions": decisions(st.Approvals)}
	m.cancelTimer(st)
	m.waitEnded(step, st, "Approved by "+m.by())
	m.succeed(step, st, "")
	return nil
}

// cancel stops the current step; its onCancel step:X runs, and the
// execution ends Cancelled after it, or the execution ends now.
func (m *machine) cancel() {
	st := current(m.exec)
	if st == nil {
		m.end(tocsin.RunbookCancelled, "")
		return
	}
	if hasTimer(st) || st.Action == "tocsin:http" || st.Action == "tocsin:script" {
		m.eff.Cancel = append(m.eff.Cancel, tocsin.RunbookStepKey(m.exec.ID, st.Seq, st.Attempt))
	}
	if st.ChildID != "" {
		m.eff.CancelChildren = append(m.eff.CancelChildren, st.ChildID)
	}
	step := m.doc.Step(st.Name)
	if step != nil && st.Status == tocsin.RunbookWaiting && (st.Action == "aws:pause" || st.Action == "aws:approve") {
		m.waitEnded(step, st, "Cancelled by "+m.by())
	}
	m.close(st, tocsin.RunbookCancelled, "")
	if step != nil && strings.HasPrefix(step.OnCancel, "step:") && m.exec.Status != tocsin.RunbookCancelling {
		target := strings.TrimPrefix(step.OnCancel, "step:")
		m.exec.Status = tocsin.RunbookCancelling
		m.stepEvent(st, fmt.Sprintf("Step %q cancelled; running %q (onCancel)", st.Name, target))
		m.pending = target
		return
	}
	m.stepEvent(st, fmt.Sprintf("Step %q cancelled", st.Name))
	m.end(tocsin.RunbookCancelled, "")
}
