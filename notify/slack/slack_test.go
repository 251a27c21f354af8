package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/notifytest"
	"tocsin/notify/slack"
)

const (
	token         = "xoxb-1234-secret-token"
	signingSecret = "signing-secret-5678"
)

// call is one Web API request the fake received.
type call struct {
	Method      string
	Channel     string
	TS          string
	Attachments []attachment
}

type attachment struct {
	Color    string  `json:"color"`
	Fallback string  `json:"fallback"`
	Blocks   []block `json:"blocks"`
}

type block struct {
	Type     string   `json:"type"`
	Text     *text    `json:"text"`
	Elements []button `json:"elements"`
}

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type button struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	URL      string `json:"url"`
	Style    string `json:"style"`
	Text     text   `json:"text"`
}

// fakeSlack speaks the part of Slack's Web API the channel uses.
type fakeSlack struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
	// errors maps a method to the Slack error code it answers with.
	errors map[string]string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{errors: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !authorized(r) {
		fmt.Fprint(w, `{"ok":false,"error":"not_authed"}`)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/")
	c := call{Method: method, Channel: r.Form.Get("channel"), TS: r.Form.Get("ts")}
	if err := json.Unmarshal([]byte(r.Form.Get("attachments")), &c.Attachments); err != nil {
		http.Error(w, "bad attachments", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	code := f.errors[method]
	f.mu.Unlock()
	if code != "" {
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
		return
	}
	ts := c.TS
	if ts == "" {
		ts = "123.456"
	}
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, c.Channel, ts)
}

// authorized accepts the token as Slack does: a form field or a bearer header.
func authorized(r *http.Request) bool {
	return r.Form.Get("token") == token || r.Header.Get("Authorization") == "Bearer "+token
}

func (f *fakeSlack) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func newChannel(t *testing.T, apiURL string, mod func(*config.Slack)) *slack.Channel {
	t.Helper()
	cfg := config.Slack{
		Token:         token,
		ChannelID:     "C0CONFIG",
		SigningSecret: signingSecret,
		APIURL:        apiURL,
		Timeout:       config.Duration(300 * time.Millisecond),
		MessageProperties: config.SlackMessageProperties{
			ButtonText:  "Ack it",
			ButtonStyle: "danger",
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := slack.New(cfg, slack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL+"/api", nil)
		},
		// Slack reports application errors as HTTP 200 with ok:false.
		Respond: func(w http.ResponseWriter, r *http.Request, reply notifytest.Reply) {
			w.Header().Set("Content-Type", "application/json")
			switch reply.Status {
			case http.StatusOK:
				fmt.Fprint(w, `{"ok":true,"channel":"C1","ts":"123.456"}`)
			case http.StatusBadRequest:
				fmt.Fprint(w, `{"ok":false,"error":"invalid_blocks"}`)
			case http.StatusUnauthorized:
				fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			case http.StatusForbidden:
				fmt.Fprint(w, `{"ok":false,"error":"missing_scope","needed":"chat:write"}`)
			default:
				notifytest.DefaultRespond(w, r, reply)
			}
		},
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.URL.Path != "/api/chat.postMessage" {
				t.Errorf("path = %s", r.URL.Path)
			}
			if !strings.Contains(string(body), "token="+token) && r.Header.Get("Authorization") != "Bearer "+token {
				t.Errorf("no token sent")
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{token, signingSecret},
	})
}

func TestPostOpened(t *testing.T) {
	f := newFakeSlack(t)
	ch := newChannel(t, f.URL, nil)
	msg := notifytest.SampleMessage(notify.EventOpened)
	ref, err := ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "C0CONFIG/123.456" {
		t.Errorf("ref = %q", ref)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Method != "chat.postMessage" || calls[0].Channel != "C0CONFIG" {
		t.Fatalf("calls = %+v", calls)
	}
	att := calls[0].Attachments[0]
	if att.Color != slack.ColorTriggered || !strings.Contains(att.Fallback, "Incident opened") {
		t.Errorf("attachment = %+v", att)
	}
	section := att.Blocks[0]
	if section.Type != "section" || section.Text.Type != "mrkdwn" ||
		!strings.Contains(section.Text.Text, msg.Incident.Title) || !strings.Contains(section.Text.Text, msg.AckURL) {
		t.Errorf("section = %+v", section)
	}
	if len(att.Blocks) != 2 || att.Blocks[1].Type != "actions" || len(att.Blocks[1].Elements) != 2 {
		t.Fatalf("blocks = %+v", att.Blocks)
	}
	ack, link := att.Blocks[1].Elements[0], att.Blocks[1].Elements[1]
	if ack.ActionID != "tocsin_ack" || ack.Value != "inc_01" || ack.URL != "" || ack.Style != "danger" || ack.Text.Text != "Ack it" {
		t.Errorf("ack button = %+v", ack)
	}
	if link.ActionID != "tocsin_ack_link" || link.URL != msg.AckURL || link.Text.Text != "Open ack link" {
		t.Errorf("link button = %+v", link)
	}
}

func TestButtons(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*config.Slack)
		msg     func() *notify.Message
		wantIDs string
	}{
		{"not interactive: URL button only, with button_text", func(c *config.Slack) { c.SigningSecret = "" }, nil, "tocsin_ack_link:Ack it"},
		{"disable_button", func(c *config.Slack) { c.MessageProperties.DisableButton = true }, nil, ""},
		{"no ack URL: interactive button only", nil, func() *notify.Message {
			m := notifytest.SampleMessage(notify.EventOpened)
			m.AckURL = ""
			return m
		}, "tocsin_ack:Ack it"},
		{"not interactive, no ack URL", func(c *config.Slack) { c.SigningSecret = "" }, func() *notify.Message {
			m := notifytest.SampleMessage(notify.EventOpened)
			m.AckURL = ""
			return m
		}, ""},
		{"already acknowledged when sent", nil, func() *notify.Message {
			m := notifytest.SampleMessage(notify.EventOpened)
			m.Incident.Status = tocsin.StatusAcknowledged
			return m
		}, ""},
		{"default text and bad style", func(c *config.Slack) { c.MessageProperties = config.SlackMessageProperties{ButtonStyle: "pink"} }, nil,
			"tocsin_ack:Acknowledge tocsin_ack_link:Open ack link"},
		// The README's default: button_style primary.
		{"default style is primary", func(c *config.Slack) { c.MessageProperties.ButtonStyle = "" }, nil,
			"tocsin_ack:Ack it tocsin_ack_link:Open ack link"},
		{"default style is primary, not interactive", func(c *config.Slack) { c.MessageProperties.ButtonStyle, c.SigningSecret = "", "" }, nil,
			"tocsin_ack_link:Ack it"},
	}
	wantStyle := map[string]string{"default text and bad style": "primary", "default style is primary": "primary",
		"default style is primary, not interactive": "primary"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			msg := notifytest.SampleMessage(notify.EventOpened)
			if tt.msg != nil {
				msg = tt.msg()
			}
			if _, err := newChannel(t, f.URL, tt.mod).Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range f.Calls()[0].Attachments[0].Blocks {
				for i, e := range b.Elements {
					got = append(got, e.ActionID+":"+e.Text.Text)
					// The first button is styled (danger in newChannel's
					// config); the interactive mode's link button is not.
					want := "danger"
					if w, ok := wantStyle[tt.name]; ok {
						want = w
					}
					if i > 0 {
						want = ""
					}
					if e.Style != want {
						t.Errorf("%s: style %q, want %q", e.ActionID, e.Style, want)
					}
				}
			}
			if strings.Join(got, " ") != tt.wantIDs {
				t.Errorf("buttons = %q, want %q", strings.Join(got, " "), tt.wantIDs)
			}
		})
	}
}

func TestDestinationChannel(t *testing.T) {
	f := newFakeSlack(t)
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"channel_id": "C0OVERRIDE"}
	ref, err := newChannel(t, f.URL, nil).Send(context.Background(), msg)
	if err != nil || ref != "C0OVERRIDE/123.456" || f.Calls()[0].Channel != "C0OVERRIDE" {
		t.Fatalf("ref=%q err=%v calls=%+v", ref, err, f.Calls())
	}
}

func TestUpdateOnAckAndResolve(t *testing.T) {
	for _, tt := range []struct {
		event, words, color string
	}{
		{notify.EventAcknowledged, "Acknowledged by alice via slack", slack.ColorAcknowledged},
		{notify.EventResolved, "Resolved by bob via api", slack.ColorResolved},
	} {
		t.Run(tt.event, func(t *testing.T) {
			f := newFakeSlack(t)
			msg := notifytest.SampleMessage(tt.event)
			msg.Ref = "C0ORIG/111.222"
			ref, err := newChannel(t, f.URL, nil).Send(context.Background(), msg)
			if err != nil || ref != msg.Ref {
				t.Fatalf("ref=%q err=%v", ref, err)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].Method != "chat.update" || calls[0].Channel != "C0ORIG" || calls[0].TS != "111.222" {
				t.Fatalf("calls = %+v", calls)
			}
			att := calls[0].Attachments[0]
			if att.Color != tt.color || len(att.Blocks) != 1 || !strings.Contains(att.Blocks[0].Text.Text, tt.words) {
				t.Errorf("attachment = %+v", att)
			}
		})
	}
}

func TestAckWithoutRefPosts(t *testing.T) {
	f := newFakeSlack(t)
	ref, err := newChannel(t, f.URL, nil).Send(context.Background(), notifytest.SampleMessage(notify.EventResolved))
	calls := f.Calls()
	if err != nil || ref != "C0CONFIG/123.456" || calls[0].Method != "chat.postMessage" || len(calls[0].Attachments[0].Blocks) != 1 {
		t.Fatalf("ref=%q err=%v calls=%+v", ref, err, calls)
	}
}

func TestUpdateOfDeletedMessagePosts(t *testing.T) {
	f := newFakeSlack(t)
	f.errors["chat.update"] = "message_not_found"
	msg := notifytest.SampleMessage(notify.EventAcknowledged)
	msg.Ref = "C0ORIG/111.222"
	ref, err := newChannel(t, f.URL, nil).Send(context.Background(), msg)
	calls := f.Calls()
	if err != nil || ref != "C0CONFIG/123.456" || len(calls) != 2 || calls[1].Method != "chat.postMessage" {
		t.Fatalf("ref=%q err=%v calls=%+v", ref, err, calls)
	}
}

func TestRenotifyPostsAndKeepsRef(t *testing.T) {
	f := newFakeSlack(t)
	msg := notifytest.SampleMessage(notify.EventRenotify)
	msg.Ref = "C0ORIG/111.222"
	ref, err := newChannel(t, f.URL, nil).Send(context.Background(), msg)
	calls := f.Calls()
	if err != nil || ref != msg.Ref || len(calls) != 1 || calls[0].Method != "chat.postMessage" {
		t.Fatalf("ref=%q err=%v calls=%+v", ref, err, calls)
	}
	att := calls[0].Attachments[0]
	if len(att.Blocks) != 2 || !strings.Contains(att.Blocks[0].Text.Text, "Still unacknowledged") {
		t.Errorf("renotify message = %+v", att)
	}
}

func TestSlackErrors(t *testing.T) {
	tests := []struct {
		code          string
		wantPermanent bool
	}{
		{"channel_not_found", true},
		{"invalid_auth", true},
		{"not_authed", true},
		{"account_inactive", true},
		{"token_revoked", true},
		{"missing_scope", true},
		{"not_in_channel", true},
		{"ratelimited", false},
		{"internal_error", false},
		{"service_unavailable", false},
	}
	for _, tt := range tests {
		f := newFakeSlack(t)
		f.errors["chat.postMessage"] = tt.code
		_, err := newChannel(t, f.URL, nil).Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
		if err == nil || !strings.Contains(err.Error(), tt.code) {
			t.Errorf("%s: err = %v", tt.code, err)
			continue
		}
		if permanent, _ := notify.Classify(err); permanent != tt.wantPermanent {
			t.Errorf("%s: permanent = %v, want %v", tt.code, permanent, tt.wantPermanent)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("%s: token in error", tt.code)
		}
	}
}

func TestBadMessages(t *testing.T) {
	ch := newChannel(t, "http://127.0.0.1:1", func(c *config.Slack) { c.ChannelID = "" })
	for name, msg := range map[string]*notify.Message{
		"nil":         nil,
		"no incident": {Event: notify.EventOpened},
		"no channel":  notifytest.SampleMessage(notify.EventOpened),
	} {
		_, err := ch.Send(context.Background(), msg)
		if permanent, _ := notify.Classify(err); err == nil || !permanent {
			t.Errorf("%s: err = %v, permanent = %v", name, err, permanent)
		}
	}
	if _, err := slack.New(config.Slack{}, slack.Options{}); err == nil {
		t.Error("New without token: want error")
	}
	if _, err := slack.New(config.Slack{Token: "x", TemplatePath: "/nonexistent/t.tmpl"}, slack.Options{}); err == nil {
		t.Error("New with a missing template: want error")
	}
}

// A user's Versus template is used for the section text.
func TestUserTemplate(t *testing.T) {
	path := t.TempDir() + "/slack.tmpl"
	if err := os.WriteFile(path, []byte(`*{{ .commonLabels.alertname }}* {{ .AckURL }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFakeSlack(t)
	msg := notifytest.SampleMessage(notify.EventOpened)
	if _, err := newChannel(t, f.URL, func(c *config.Slack) { c.TemplatePath = path }).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls()[0].Attachments[0].Blocks[0].Text.Text; got != "*PostgresqlDown* "+msg.AckURL {
		t.Errorf("text = %q", got)
	}
}

// An alert title is the sender's text: in the attachment's fallback (what
// Slack shows in notifications) it must not mention @channel or render a
// link, any more than in the blocks.
func TestFallbackEscaped(t *testing.T) {
	f := newFakeSlack(t)
	ch := newChannel(t, f.URL, nil)
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Incident.Title = "<!channel> <https://evil.example|Acknowledge> & more"
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	att := f.Calls()[0].Attachments[0]
	want := "Incident opened: &lt;!channel&gt; &lt;https://evil.example|Acknowledge&gt; &amp; more"
	if att.Fallback != want {
		t.Errorf("fallback = %q, want %q", att.Fallback, want)
	}
}
