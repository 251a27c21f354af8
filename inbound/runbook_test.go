package inbound

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tocsin"
)

// fakeRunbooks holds one execution and records the signals it is sent.
type fakeRunbooks struct {
	exec    *tocsin.RunbookExecution
	after   *tocsin.RunbookExecution // what a signal returns
	err     error                    // what a signal fails with
	signals []tocsin.RunbookSignal
}

func (f *fakeRunbooks) RunbookExecution(_ context.Context, id string) (*tocsin.RunbookExecution, error) {
	if f.exec == nil || f.exec.ID != id {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "no execution %s", id)
	}
	return f.exec, nil
}

func (f *fakeRunbooks) SignalRunbook(_ context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error) {
	f.signals = append(f.signals, sig)
	return f.after, f.err
}

type fakeContacts []*tocsin.Contact

func (f fakeContacts) ListContacts(context.Context) ([]*tocsin.Contact, error) { return f, nil }

// fakeReplies records the answers to clicks.
type fakeReplies struct{ ephemerals []string }

func (f *fakeReplies) PostEphemeral(_ context.Context, channel, user, text string) error {
	f.ephemerals = append(f.ephemerals, channel+"/"+user+"|"+text)
	return nil
}

// waitingExec is execution ex1 waiting at step seq, an action step whose
// earlier steps succeeded.
func waitingExec(seq int, action string, approvals ...tocsin.RunbookApproval) *tocsin.RunbookExecution {
	e := &tocsin.RunbookExecution{ID: "ex1", IncidentID: "inc_1", Runbook: "restart", Status: tocsin.RunbookWaiting, Current: seq}
	for i := 1; i <= seq; i++ {
		e.Steps = append(e.Steps, &tocsin.RunbookStep{Seq: i, Name: "Before", Action: "aws:pause", Status: tocsin.RunbookSuccess, Attempt: 1})
	}
	st := e.Steps[seq-1]
	st.Name, st.Action, st.Status, st.Approvals = "Ask", action, tocsin.RunbookWaiting, approvals
	if action == "aws:approve" {
		st.Inputs = map[string]any{"Approvers": []any{"ann", "ben"}, "MinRequiredApprovals": float64(2)}
	}
	return e
}

func runbookClick(actionID, value, userID, userName string) string {
	p, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": userID, "username": userName},
		"container": map[string]any{"channel_id": "C1", "message_ts": "111.222"},
		"message":   map[string]any{"ts": "111.222", "blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "Runbook restart waits"}}}},
		"actions":   []any{map[string]any{"action_id": actionID, "value": value}},
	})
	return string(p)
}

// TestSlackRunbookButtons drives the runbook buttons over fakes: who the
// actor is, what is signalled (for the step the message announced), and
// when the user alone is told why nothing changed.
func TestSlackRunbookButtons(t *testing.T) {
	contacts := fakeContacts{
		{Alias: "ann", Channels: []tocsin.ContactChannel{{Name: "dm", Type: tocsin.ChannelSlack, Address: "U_ANN", Activated: true}}},
		{Alias: "ben", Channels: []tocsin.ContactChannel{{Name: "dm", Type: tocsin.ChannelSlack, Address: "U_BEN"}}}, // not activated
		{Alias: "carl", Channels: []tocsin.ContactChannel{{Name: "dm", Type: tocsin.ChannelSlack, Address: "U_CARL", Activated: true}}},
		{Alias: "dora", Channels: []tocsin.ContactChannel{{Name: "mail", Type: tocsin.ChannelEmail, Address: "U_DORA", Activated: true}}},
	}
	ended := &tocsin.RunbookExecution{ID: "ex1", Runbook: "restart", Status: tocsin.RunbookSuccess}
	for _, tc := range []struct {
		name        string
		exec, after *tocsin.RunbookExecution
		err         error
		click       string
		signal      string // "type by/via", "" for none
		ephemeral   string // a part of the answer, "" for none
	}{
		{name: "resume as the contact", exec: waitingExec(2, "aws:pause"), after: ended,
			click: runbookClick("tocsin_runbook_resume", "ex1:2", "U_ANN", "annie"), signal: "Resume ann/slack"},
		{name: "resume as a Slack user with no contact", exec: waitingExec(2, "aws:pause"), after: ended,
			click: runbookClick("tocsin_runbook_resume", "ex1:2", "U_ZED", "zed\u0007"), signal: "Resume zed/slack"},
		{name: "a contact's email address is not a Slack id", exec: waitingExec(1, "aws:approve"),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_DORA", "dora"), ephemeral: "Your Slack user is not an approver of step Ask"},
		{name: "approve as an approver", exec: waitingExec(1, "aws:approve"), after: ended,
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_ANN", "annie"), signal: "Approve ann/slack"},
		{name: "reject as an approver", exec: waitingExec(1, "aws:approve"), after: ended,
			click: runbookClick("tocsin_runbook_reject", "ex1:1", "U_ANN", "annie"), signal: "Reject ann/slack"},
		{name: "an approver whose Slack channel is not activated", exec: waitingExec(1, "aws:approve"),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_BEN", "ben"), ephemeral: "Your Slack user is not an approver"},
		{name: "a contact who is no approver", exec: waitingExec(1, "aws:approve"),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_CARL", "carl"), ephemeral: "Your contact carl is not an approver of step Ask"},
		{name: "an approver who answered already", exec: waitingExec(1, "aws:approve", tocsin.RunbookApproval{By: "ann", Approved: true}),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_ANN", "annie"), ephemeral: "or has answered it already (approvers: ann, ben)"},
		{name: "the first of two approvals", exec: waitingExec(1, "aws:approve"), after: waitingExec(1, "aws:approve", tocsin.RunbookApproval{By: "ann", Approved: true}),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_ANN", "annie"), signal: "Approve ann/slack", ephemeral: "the step waits for more approvals"},
		{name: "an earlier step's message", exec: waitingExec(3, "aws:pause"),
			click: runbookClick("tocsin_runbook_resume", "ex1:2", "U_ANN", "annie"), ephemeral: "no longer waiting at this step"},
		{name: "an ended execution", exec: ended,
			click: runbookClick("tocsin_runbook_resume", "ex1:2", "U_ANN", "annie"), ephemeral: "no longer waiting at this step (Success)"},
		{name: "an execution that is gone", exec: nil,
			click: runbookClick("tocsin_runbook_resume", "ex1:2", "U_ANN", "annie"), ephemeral: "Runbook execution ex1 no longer exists"},
		{name: "the store refuses", exec: waitingExec(1, "aws:approve"), err: tocsin.Errorf(tocsin.EFORBIDDEN, `"ann" is not an approver`),
			click: runbookClick("tocsin_runbook_approve", "ex1:1", "U_ANN", "annie"), signal: "Approve ann/slack", ephemeral: `"ann" is not an approver; nothing was changed.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb, replies := &fakeRunbooks{exec: tc.exec, after: tc.after, err: tc.err}, &fakeReplies{}
			h, st := newServer(t, func(o *Options) {
				o.SlackSigningSecret, o.Runbooks, o.Contacts, o.Slack = "secret", rb, contacts, replies
			})
			if code, body, _ := do(h, slackRequest("secret", epoch, tc.click)); code != http.StatusOK {
				t.Fatalf("click: %d %v", code, body)
			}
			var signals []string
			for _, s := range rb.signals {
				if s.ExecutionID != "ex1" || s.Seq != tc.exec.Current {
					t.Errorf("signalled %s at step %d", s.ExecutionID, s.Seq)
				}
				signals = append(signals, s.Type+" "+s.By.Name+"/"+s.By.Via)
			}
			if got := strings.Join(signals, ","); got != tc.signal {
				t.Errorf("signals %q, want %q", got, tc.signal)
			}
			if tc.ephemeral == "" && len(replies.ephemerals) != 0 {
				t.Errorf("ephemerals %q, want none", replies.ephemerals)
			}
			if tc.ephemeral != "" && (len(replies.ephemerals) != 1 || !strings.HasPrefix(replies.ephemerals[0], "C1/"+clickUser(tc.click)+"|") ||
				!strings.Contains(replies.ephemerals[0], tc.ephemeral)) {
				t.Errorf("ephemerals %q, want one to the user with %q", replies.ephemerals, tc.ephemeral)
			}
			if len(st.acked) != 0 {
				t.Errorf("a runbook click acknowledged %v", st.acked)
			}
		})
	}

	t.Run("not wired", func(t *testing.T) {
		h, _ := newServer(t, func(o *Options) { o.SlackSigningSecret = "secret" })
		if code, _, _ := do(h, slackRequest("secret", epoch, runbookClick("tocsin_runbook_resume", "ex1:2", "U_ANN", "a"))); code != http.StatusNotFound {
			t.Fatalf("without runbooks: %d, want 404", code)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		h, _ := newServer(t, func(o *Options) { o.SlackSigningSecret, o.Runbooks = "secret", &fakeRunbooks{} })
		if code, _, _ := do(h, slackRequest("secret", epoch, runbookClick("tocsin_runbook_resume", "ex1", "U_ANN", "a"))); code != http.StatusBadRequest {
			t.Fatalf("a value without a step: %d, want 400", code)
		}
	})
}

func clickUser(click string) string {
	var p struct {
		User struct{ ID string } `json:"user"`
	}
	_ = json.Unmarshal([]byte(click), &p)
	return p.User.ID
}
