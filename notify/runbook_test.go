package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
)

// noticeChannel is a channel that records the notices it sends, failing
// with err when set.
type noticeChannel struct {
	name    string
	err     error
	notices []*notify.Notice
}

func (c *noticeChannel) Name() string { return c.name }

func (c *noticeChannel) Send(context.Context, *notify.Message) (string, error) {
	return "", errors.New("a runbook notice is not an incident message")
}

func (c *noticeChannel) SendNotice(_ context.Context, n *notify.Notice) error {
	if c.err != nil {
		return c.err
	}
	c.notices = append(c.notices, n)
	return nil
}

// executions is a RunbookSource holding one execution.
type executions struct{ exec *tocsin.RunbookExecution }

func (s executions) RunbookExecution(_ context.Context, id string) (*tocsin.RunbookExecution, error) {
	if s.exec == nil || s.exec.ID != id {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "no execution %s", id)
	}
	return s.exec, nil
}

// waitingAt is an execution waiting at step seq (attempt 1) of a pause.
func waitingAt(seq int) *tocsin.RunbookExecution {
	e := &tocsin.RunbookExecution{ID: "ex1", IncidentID: "inc_01", Runbook: "restart", Status: tocsin.RunbookWaiting, Current: seq}
	for i := 1; i <= seq; i++ {
		st := &tocsin.RunbookStep{Seq: i, Name: "Step", Action: "aws:pause", Status: tocsin.RunbookSuccess, Attempt: 1}
		if i == seq {
			st.Status = tocsin.RunbookWaiting
		}
		e.Steps = append(e.Steps, st)
	}
	return e
}

var pauseWait = tocsin.RunbookWait{ExecutionID: "ex1", Runbook: "restart", Seq: 2, Attempt: 1, Step: "Inspect", Action: "aws:pause",
	Instructions: "## Inspect\nLook at <b>the graphs</b> & the logs."}

func runbookDispatcher(exec *tocsin.RunbookExecution, chats []tocsin.ChatChannel, channels ...*noticeChannel) *notify.Dispatcher {
	inc := &tocsin.Incident{ID: "inc_01", Title: "db down", Status: tocsin.StatusTriggered, ChatChannels: chats}
	d := &notify.Dispatcher{
		Source: deliveries{&tocsin.Delivery{Incident: inc}}, Runbooks: executions{exec}, Channels: map[string]notify.Channel{},
		IncidentURL: func(id string) string { return "https://tocsin.example.com/incidents/" + id + "?sig=x" },
		Now:         func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	}
	for _, c := range channels {
		d.Channels[c.name] = c
	}
	return d
}

func waitJob(w tocsin.RunbookWait) *tocsin.Job {
	return &tocsin.Job{ID: "job1", Kind: tocsin.JobRunbookWait, IncidentID: "inc_01", Args: tocsin.MustJSON(w), Attempts: 1}
}

// TestHandleRunbookWaitFansOut checks that a wait becomes one notify job
// per channel and chat-channel destination (a replacing destination
// taking the configured one's place; a channel that posts to one place
// told once), and nothing once the step no longer waits.
func TestHandleRunbookWaitFansOut(t *testing.T) {
	chats := []tocsin.ChatChannel{{Channel: "slack", Destination: "C2"}, {Channel: "email", Destination: "ops@example.com", ReplaceDefaults: true},
		{Channel: "msteams", Destination: "other"}}
	d := runbookDispatcher(waitingAt(2), chats, &noticeChannel{name: "slack"}, &noticeChannel{name: "email"}, &noticeChannel{name: "msteams"})
	out := d.HandleRunbookWait(context.Background(), waitJob(pauseWait))
	var got []string
	for _, j := range out.Next {
		var a tocsin.NotifyArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			t.Fatal(err)
		}
		if j.Kind != tocsin.JobNotify || j.Lane != tocsin.NotifyLane(a.Channel) || j.IncidentID != "inc_01" || a.Event != tocsin.NotifyEventRunbookWaiting ||
			a.Runbook == nil || !reflect.DeepEqual(*a.Runbook, pauseWait) {
			t.Errorf("job %+v args %+v", j, a)
		}
		dest, _ := json.Marshal(a.Destination)
		got = append(got, a.Channel+" "+string(dest))
	}
	want := []string{`email {"to":"ops@example.com"}`, "msteams null", "slack null", `slack {"channel_id":"C2"}`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notify jobs\n%v, want\n%v", got, want)
	}

	for name, exec := range map[string]*tocsin.RunbookExecution{"moved on": waitingAt(3), "gone": nil} {
		d := runbookDispatcher(exec, nil, &noticeChannel{name: "slack"})
		if out := d.HandleRunbookWait(context.Background(), waitJob(pauseWait)); len(out.Next) != 0 || out.Failed || !out.RetryAt.IsZero() {
			t.Errorf("%s: %+v", name, out)
		}
	}
}

// TestSendRunbookWait checks one channel's notice: its address, its text
// (the step, the command, the link, the instructions as written) and the
// step it carries for buttons, recorded on the timeline; a step resumed
// meanwhile sends nothing; a channel that refuses it gives up and the
// other channels hear of it.
func TestSendRunbookWait(t *testing.T) {
	slack, email := &noticeChannel{name: "slack"}, &noticeChannel{name: "email"}
	d := runbookDispatcher(waitingAt(2), nil, slack, email)
	args := tocsin.MustJSON(tocsin.NotifyArgs{Channel: "slack", Event: tocsin.NotifyEventRunbookWaiting,
		Destination: map[string]string{"channel_id": "C2"}, Runbook: &pauseWait})
	out := d.HandleNotify(context.Background(), &tocsin.Job{ID: "job2", Kind: tocsin.JobNotify, IncidentID: "inc_01", Args: args, Attempts: 1})
	if len(slack.notices) != 1 || len(out.Events) != 1 || out.Events[0].Kind != tocsin.EventNotificationSent || out.Failed {
		t.Fatalf("sent %d notices, outcome %+v", len(slack.notices), out)
	}
	n := slack.notices[0]
	if n.To != "C2" || n.DeliveryID != "job2" || n.Runbook == nil || n.Runbook.Seq != 2 || n.Subject != "Runbook restart waits at step Inspect" {
		t.Errorf("notice %+v", n)
	}
	for _, want := range []string{`Runbook restart on incident "db down" (inc_01) waits at step Inspect (aws:pause).`,
		"Resume with: tocsin runbook resume ex1", "Incident: https://tocsin.example.com/incidents/inc_01?sig=x",
		"## Inspect\nLook at <b>the graphs</b> & the logs."} {
		if !strings.Contains(n.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, n.Text)
		}
	}

	approve := tocsin.RunbookWait{ExecutionID: "ex1", Runbook: "restart", Seq: 2, Attempt: 1, Step: "Ask", Action: "aws:approve",
		Message: "Restart db-1?", Approvers: []string{"ann", "ben"}, MinApprovals: 1}
	text := notify.RunbookWaitText(&approve, nil, "")
	for _, want := range []string{"waits for approval at step Ask (aws:approve): 1 approval(s) of ann, ben.",
		"Approve with: tocsin runbook approve ex1 --as <approver>", "Reject with: tocsin runbook reject ex1 --as <approver>", "\n\nRestart db-1?"} {
		if !strings.Contains(text, want) {
			t.Errorf("approval text lacks %q:\n%s", want, text)
		}
	}

	// Resumed before the notice went: nothing is sent, nothing recorded.
	slack.notices = nil
	d.Runbooks = executions{waitingAt(3)}
	if out := d.HandleNotify(context.Background(), &tocsin.Job{ID: "job3", Kind: tocsin.JobNotify, IncidentID: "inc_01", Args: args, Attempts: 1}); len(slack.notices) != 0 || len(out.Events) != 0 || out.Failed {
		t.Fatalf("a step no longer waiting was announced: %d notices, %+v", len(slack.notices), out)
	}

	// A refusal gives up at once and tells the other channels.
	d.Runbooks = executions{waitingAt(2)}
	slack.err = notify.Permanent(errors.New("channel_not_found"))
	out = d.HandleNotify(context.Background(), &tocsin.Job{ID: "job4", Kind: tocsin.JobNotify, IncidentID: "inc_01", Args: args, Attempts: 1})
	if !out.Failed || len(out.Next) != 1 || !strings.Contains(out.Error, "runbook step Inspect notice failed: channel_not_found") {
		t.Fatalf("refused notice: %+v", out)
	}
	var failure tocsin.NotifyArgs
	_ = json.Unmarshal(out.Next[0].Args, &failure)
	if failure.Channel != "email" || failure.Event != tocsin.NotifyEventDeliveryFailed {
		t.Errorf("failure notice %+v", failure)
	}
}

// updatingChannel is a noticeChannel whose messages can be changed.
type updatingChannel struct {
	noticeChannel
	updates []string // ref|text
}

func (c *updatingChannel) PostNotice(ctx context.Context, n *notify.Notice) (string, error) {
	if err := c.SendNotice(ctx, n); err != nil {
		return "", err
	}
	return "C9/42.1", nil
}

func (c *updatingChannel) UpdateNotice(_ context.Context, ref string, n *notify.Notice) error {
	c.updates = append(c.updates, ref+"|"+n.Text)
	return nil
}

// refDeliveries is a DeliverySource whose references are kept by channel
// key, as the store keeps them.
type refDeliveries struct {
	inc  *tocsin.Incident
	refs map[string]string
}

func (s refDeliveries) LoadDelivery(_ context.Context, _, _, channel string) (*tocsin.Delivery, error) {
	return &tocsin.Delivery{Incident: s.inc, Ref: s.refs[channel]}, nil
}

// TestRunbookWaitMessageUpdated checks a wait's message over its life on
// a channel that can change it: posted with its reference kept under the
// wait's key, then, once the wait ended, changed to say how; an ended
// wait is told only to such channels, and not at all where nothing was
// posted.
func TestRunbookWaitMessageUpdated(t *testing.T) {
	slack, email := &updatingChannel{noticeChannel: noticeChannel{name: "slack"}}, &noticeChannel{name: "email"}
	d := runbookDispatcher(waitingAt(2), nil, email)
	d.Channels["slack"] = slack
	src := refDeliveries{inc: &tocsin.Incident{ID: "inc_01", Title: "db down"}, refs: map[string]string{}}
	d.Source = src
	job := func(w tocsin.RunbookWait) *tocsin.Job {
		args := tocsin.MustJSON(tocsin.NotifyArgs{Channel: "slack", Event: tocsin.NotifyEventRunbookWaiting, Runbook: &w})
		return &tocsin.Job{ID: "job5", Kind: tocsin.JobNotify, IncidentID: "inc_01", Args: args, Attempts: 1}
	}
	key := notify.RunbookWaitRef("slack", "", &pauseWait)
	if key != "runbook:ex1:2:1:slack:" {
		t.Fatalf("key %q", key)
	}
	out := d.HandleNotify(context.Background(), job(pauseWait))
	if out.Ref == nil || *out.Ref != (tocsin.ChannelRef{IncidentID: "inc_01", Channel: key, Ref: "C9/42.1"}) || len(slack.notices) != 1 {
		t.Fatalf("posted: %+v", out)
	}

	ended := pauseWait
	ended.Ended = "Resumed by bob via slack"
	d.Runbooks = executions{waitingAt(3)} // the execution moved on
	// The end is told to the channel that can change its message only.
	fan := d.HandleRunbookWait(context.Background(), waitJob(ended))
	if len(fan.Next) != 1 || fan.Next[0].Lane != tocsin.NotifyLane("slack") {
		t.Fatalf("ended wait fanned out to %+v", fan.Next)
	}
	// Nothing posted under the key: nothing to change.
	if out := d.HandleNotify(context.Background(), job(ended)); len(slack.updates) != 0 || len(out.Events) != 0 || out.Failed {
		t.Fatalf("updated a message never posted: %v %+v", slack.updates, out)
	}
	src.refs[key] = "C9/42.1"
	out = d.HandleNotify(context.Background(), job(ended))
	if len(slack.updates) != 1 || !strings.HasPrefix(slack.updates[0], "C9/42.1|") || len(out.Events) != 1 || out.Ref != nil {
		t.Fatalf("update %v, outcome %+v", slack.updates, out)
	}
	text := slack.updates[0]
	if !strings.Contains(text, `Runbook restart on incident "db down" (inc_01), step Inspect (aws:pause): Resumed by bob via slack.`) ||
		strings.Contains(text, "Resume with") || !strings.Contains(text, "Incident: https://tocsin.example.com/incidents/inc_01") {
		t.Errorf("updated text:\n%s", text)
	}
	// A duplicate of the first job posts nothing twice.
	d.Runbooks = executions{waitingAt(2)}
	slack.notices = nil
	if out := d.HandleNotify(context.Background(), job(pauseWait)); len(slack.notices) != 0 || out.Ref != nil {
		t.Fatalf("posted twice: %+v", out)
	}
}
