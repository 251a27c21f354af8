package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/slack"
)

// formSlack records every Web API call's method and form.
type formSlack struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
	paths []string
}

func newFormSlack(t *testing.T) *formSlack {
	f := &formSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if !authorized(r) {
			fmt.Fprint(w, `{"ok":false,"error":"not_authed"}`)
			return
		}
		f.mu.Lock()
		f.forms = append(f.forms, r.Form)
		f.paths = append(f.paths, strings.TrimPrefix(r.URL.Path, "/"))
		f.mu.Unlock()
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"111.222","message_ts":"111.222"}`, r.Form.Get("channel"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *formSlack) last(t *testing.T) (string, url.Values) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		t.Fatal("no call")
	}
	return f.paths[len(f.paths)-1], f.forms[len(f.forms)-1]
}

// buttonsOf lists "action_id=value:style" of the blocks' buttons and the
// sections' texts.
func buttonsOf(t *testing.T, raw string) (buttons, texts []string) {
	t.Helper()
	var blocks []block
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", raw, err)
	}
	for _, b := range blocks {
		if b.Text != nil {
			texts = append(texts, b.Text.Text)
		}
		for _, e := range b.Elements {
			buttons = append(buttons, e.ActionID+"="+e.Value+":"+e.Style)
		}
	}
	return buttons, texts
}

// TestRunbookNoticeButtons checks a wait's notice: a pause offers Resume,
// an approval Approve and Reject, each naming the execution and step; a
// channel without the signing secret (Slack could not deliver the click)
// and a notice about nothing runbook-like have no buttons; the text is
// escaped.
func TestRunbookNoticeButtons(t *testing.T) {
	pause := &tocsin.RunbookWait{ExecutionID: "0193-ab", Seq: 2, Step: "Inspect", Action: "aws:pause"}
	approve := &tocsin.RunbookWait{ExecutionID: "0193-ab", Seq: 4, Step: "Ask", Action: "aws:approve"}
	for _, tc := range []struct {
		name   string
		secret string
		wait   *tocsin.RunbookWait
		want   string
	}{
		{"pause", signingSecret, pause, "tocsin_runbook_resume=0193-ab:2:primary"},
		{"approve", signingSecret, approve, "tocsin_runbook_approve=0193-ab:4:primary tocsin_runbook_reject=0193-ab:4:danger"},
		{"not interactive", "", pause, ""},
		{"hand-off note", signingSecret, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFormSlack(t)
			ch := newChannel(t, f.URL, func(c *config.Slack) { c.SigningSecret = tc.secret })
			err := ch.SendNotice(context.Background(), &notify.Notice{To: "C2", Text: "Runbook x waits <!channel> & more", Runbook: tc.wait})
			if err != nil {
				t.Fatal(err)
			}
			method, form := f.last(t)
			if method != "chat.postMessage" || form.Get("channel") != "C2" || form.Get("text") != "Runbook x waits &lt;!channel&gt; &amp; more" {
				t.Fatalf("%s %v", method, form)
			}
			var buttons, texts []string
			if raw := form.Get("blocks"); raw != "" {
				buttons, texts = buttonsOf(t, raw)
				if len(texts) != 1 || texts[0] != form.Get("text") {
					t.Errorf("section texts %q", texts)
				}
			}
			if got := strings.Join(buttons, " "); got != tc.want {
				t.Errorf("buttons %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUpdateNoticeAndEphemeral checks the message's life: posted with a
// reference, it is changed to its new text (escaped) without buttons;
// a reference that is not one is refused for good; an ephemeral answer
// goes to the one user.
func TestUpdateNoticeAndEphemeral(t *testing.T) {
	f := newFormSlack(t)
	ch := newChannel(t, f.URL, nil)
	wait := &tocsin.RunbookWait{ExecutionID: "0193-ab", Seq: 2, Step: "Inspect", Action: "aws:pause"}
	ref, err := ch.PostNotice(context.Background(), &notify.Notice{Text: "waits", Runbook: wait})
	if err != nil || ref != "C0CONFIG/111.222" {
		t.Fatalf("posted %q, %v", ref, err)
	}
	ended := *wait
	ended.Ended = "Resumed by <ann>"
	if err := ch.UpdateNotice(context.Background(), ref, &notify.Notice{Text: "step Inspect: Resumed by <ann>", Runbook: &ended}); err != nil {
		t.Fatal(err)
	}
	method, form := f.last(t)
	buttons, texts := buttonsOf(t, form.Get("blocks"))
	if method != "chat.update" || form.Get("channel") != "C0CONFIG" || form.Get("ts") != "111.222" || len(buttons) != 0 ||
		strings.Join(texts, "|") != "step Inspect: Resumed by &lt;ann&gt;" || form.Get("text") != texts[0] {
		t.Fatalf("%s %v", method, form)
	}
	if err := ch.UpdateNotice(context.Background(), "nonsense", &notify.Notice{Text: "x"}); err == nil {
		t.Error("a bad reference was accepted")
	} else if permanent, _ := notify.Classify(err); !permanent {
		t.Errorf("a bad reference is retried: %v", err)
	}
	if err := ch.PostEphemeral(context.Background(), "C2", "U9", "You are not an approver <here>"); err != nil {
		t.Fatal(err)
	}
	method, form = f.last(t)
	if method != "chat.postEphemeral" || form.Get("channel") != "C2" || form.Get("user") != "U9" || form.Get("text") != "You are not an approver &lt;here&gt;" {
		t.Fatalf("%s %v", method, form)
	}
}

// TestParseRunbookInteraction reads a runbook button's click and refuses
// values that do not name an execution's step.
func TestParseRunbookInteraction(t *testing.T) {
	payload := strings.Replace(strings.Replace(ackPayload, `"action_id": "tocsin_ack"`, `"action_id": "tocsin_runbook_approve"`, 1), `"value": "inc_01"`, `"value": "0193-ab:4"`, 1)
	in, ok, err := slack.ParseRunbookInteraction(form(payload))
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := slack.RunbookInteraction{Signal: tocsin.SignalApprove, ExecutionID: "0193-ab", Seq: 4, UserID: "U123", UserName: "alice",
		ChannelID: "C1", MessageTS: "123.456"}
	if *in != want {
		t.Errorf("got %+v, want %+v", *in, want)
	}
	// The ack button is not a runbook's.
	if in, ok, err := slack.ParseRunbookInteraction(form(ackPayload)); ok || err != nil || in != nil {
		t.Errorf("ack click: %v %v %v", in, ok, err)
	}
	for _, v := range []string{"", "0193-ab", ":4", "0193-ab:0", "0193-ab:x"} {
		p := strings.Replace(payload, `"value": "0193-ab:4"`, fmt.Sprintf("%q: %q", "value", v), 1)
		if _, ok, err := slack.ParseRunbookInteraction(form(p)); ok || tocsin.ErrorCode(err) != tocsin.EINVALID {
			t.Errorf("value %q: ok=%v err=%v", v, ok, err)
		}
	}
}
