package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

// chatBook pauses with Markdown instructions, then asks ann or ben for
// one approval.
const chatBook = `schemaVersion: '0.3'
mainSteps:
- name: Inspect
  action: aws:pause
  description: |
    ## Inspect the host
    Check **CPU** <b>now</b>.
- name: Approve
  action: aws:approve
  inputs:
    Approvers: [ann, ben]
    Message: Restart {{ incident:TITLE }}?
- name: Done
  action: aws:pause
`

// slackClick posts a signed click on a runbook button of the Slack
// message post, as user, and wants 200.
func slackClick(t *testing.T, ts *apptest.Server, post url.Values, actionID, userID, userName string) {
	t.Helper()
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(post.Get("blocks")), &blocks); err != nil {
		t.Fatalf("blocks of %v: %v", post, err)
	}
	value := ""
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				value = e.Value
			}
		}
	}
	if value == "" {
		t.Fatalf("no %s button in %s", actionID, post.Get("blocks"))
	}
	var sent []any
	_ = json.Unmarshal([]byte(post.Get("blocks")), &sent)
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": userID, "username": userName},
		"container": map[string]any{"channel_id": post.Get("channel"), "message_ts": "1700000000.9"},
		"message":   map[string]any{"ts": "1700000000.9", "blocks": sent},
		"actions":   []any{map[string]any{"action_id": actionID, "value": value, "type": "button"}},
	})
	form := "payload=" + url.QueryEscape(string(payload))
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/slack/interactions", strings.NewReader(form))
	req.Header = slackSign(form, time.Now())
	if status, body := apptest.Do(t, req); status != http.StatusOK {
		t.Fatalf("click %s as %s: %d %v", actionID, userName, status, body)
	}
}

// runbookPost waits for the Slack post announcing step and returns it,
// with the ts the fake Slack gave it.
func runbookPost(t *testing.T, ts *apptest.Server, step string) url.Values {
	t.Helper()
	var found url.Values
	apptest.Eventually(t, "slack post of "+step, func() bool {
		for i, p := range ts.Slack.Posts() {
			if strings.Contains(p.Get("text"), "at step "+step+" ") {
				found = p
				found.Set("posted_ts", "1700000000."+strconv.Itoa(i+1))
				return true
			}
		}
		return false
	})
	return found
}

// updateOf waits for the chat.update of the message post and returns it.
func updateOf(t *testing.T, ts *apptest.Server, post url.Values) url.Values {
	t.Helper()
	var found url.Values
	apptest.Eventually(t, "slack update of "+post.Get("posted_ts"), func() bool {
		for _, u := range ts.Slack.Updates() {
			if u.Get("channel") == post.Get("channel") && u.Get("ts") == post.Get("posted_ts") {
				found = u
				return true
			}
		}
		return false
	})
	return found
}

// TestScenarioSlackRunbookButtons runs a runbook on an incident through
// Slack: each wait is announced in the team's channels (Slack with its
// buttons, email, the webhook), a Slack user resumes, one who is no
// approver is told so and changes nothing, an approver (a contact whose
// activated Slack channel is theirs) approves, each click replacing the
// buttons; the incident page shows the execution.
func TestScenarioSlackRunbookButtons(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	// ann's Slack channel is activated with the code Slack delivered.
	if code, body := ts.Put(t, "/api/v1/contacts/ann", `{"alias":"ann","name":"Ann","channels":[{"name":"dm","type":"slack","address":"U_ANN"}]}`); code != 201 {
		t.Fatalf("contact: %d %v", code, body)
	}
	if code, body := ts.Send(t, "POST", "/api/v1/contacts/ann/channels/dm/activation", ""); code != 202 {
		t.Fatalf("activation: %d %v", code, body)
	}
	var activation string
	apptest.Eventually(t, "activation code", func() bool {
		m := regexp.MustCompile(`activation code for dm is (\d+)`).FindStringSubmatch(ts.Slack.Texts())
		if m != nil {
			activation = m[1]
		}
		return m != nil
	})
	if code, body := ts.Send(t, "POST", "/api/v1/contacts/ann/channels/dm/activate", `{"code":"`+activation+`"}`); code != 200 {
		t.Fatalf("activate: %d %v", code, body)
	}
	if code, body := ts.Put(t, "/api/v1/runbooks/restart-host", chatBook); code != 201 {
		t.Fatalf("runbook: %d %v", code, body)
	}
	_, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g-runbook", "firing", "web-1"))
	id := apptest.FirstID(t, body)
	code, body := ts.Send(t, "POST", "/api/v1/runbooks/restart-host/executions", `{"incident_id":"`+id+`","by":"alice"}`)
	if code != 201 {
		t.Fatalf("start: %d %v", code, body)
	}
	exec := body["execution"].(map[string]any)["id"].(string)

	// The pause is announced: Slack with a Resume button, email and the webhook.
	post := runbookPost(t, ts, "Inspect")
	text := post.Get("text")
	for _, want := range []string{"Runbook restart-host on incident", "waits at step Inspect (aws:pause)", "Resume with: tocsin runbook resume " + exec,
		"Incident: " + ts.URL + "/incidents/" + id + "?exp=", "## Inspect the host\nCheck **CPU** &lt;b&gt;now&lt;/b&gt;."} {
		if !strings.Contains(text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, text)
		}
	}
	if post.Get("channel") != "C0INCIDENT" || !strings.Contains(post.Get("blocks"), `"action_id":"tocsin_runbook_resume","value":"`+exec+`:1"`) {
		t.Fatalf("slack post: %v", post)
	}
	apptest.Eventually(t, "email and webhook notices", func() bool {
		return strings.Contains(mailboxText(ts), "Runbook restart-host waits at step Inspect") && strings.Contains(sinkText(ts), "waits at step Inspect")
	})

	// zed has no contact: a Resume is his as his Slack name.
	slackClick(t, ts, post, "tocsin_runbook_resume", "U_ZED", "zed")
	apptest.Eventually(t, "resumed", func() bool { return waitingAt(t, ts, exec) == "Approve" })
	upd := updateOf(t, ts, post)
	if !strings.Contains(upd.Get("text"), "step Inspect (aws:pause): Resumed by zed via slack.") || strings.Contains(upd.Get("blocks"), "tocsin_runbook_resume") ||
		!strings.Contains(upd.Get("text"), "## Inspect the host") {
		t.Fatalf("update after resume: %v", upd)
	}

	// The approval is announced with Approve and Reject; carl is no approver.
	post = runbookPost(t, ts, "Approve")
	if !strings.Contains(post.Get("text"), "Restart Latency high on web-1?") || !strings.Contains(post.Get("text"), "1 approval(s) of ann, ben") ||
		!strings.Contains(post.Get("blocks"), "tocsin_runbook_reject") {
		t.Fatalf("approval post: %v", post)
	}
	_, updates := ts.Slack.Counts()
	slackClick(t, ts, post, "tocsin_runbook_approve", "U_CARL", "carl")
	time.Sleep(200 * time.Millisecond) // time enough for an outbox that would (wrongly) update
	eph := ts.Slack.Ephemerals()
	if len(eph) != 1 || eph[0].Get("user") != "U_CARL" || !strings.Contains(eph[0].Get("text"), "is not an approver of step Approve") {
		t.Fatalf("ephemerals %v", eph)
	}
	if _, u := ts.Slack.Counts(); u != updates || waitingAt(t, ts, exec) != "Approve" {
		t.Fatalf("a refused approval changed something: %d updates, at %s", u, waitingAt(t, ts, exec))
	}

	// ann approves from Slack, as her contact.
	slackClick(t, ts, post, "tocsin_runbook_approve", "U_ANN", "annie")
	apptest.Eventually(t, "approved", func() bool { return waitingAt(t, ts, exec) == "Done" })
	if upd := updateOf(t, ts, post); !strings.Contains(upd.Get("text"), "Approved by ann via slack") || strings.Contains(upd.Get("blocks"), "tocsin_runbook_approve") {
		t.Fatalf("update after approval: %v", upd)
	}
	_, ex := ts.Get(t, "/api/v1/runbook-executions/"+exec)
	steps := ex["execution"].(map[string]any)["steps"].([]any)
	approvals := steps[1].(map[string]any)["approvals"].([]any)
	if by := approvals[0].(map[string]any)["by"]; by != "ann" {
		t.Fatalf("approved by %v, want ann", by)
	}

	// The page the message links to shows the execution, read-only.
	link := regexp.MustCompile(`Incident: (\S+)`).FindStringSubmatch(text)[1]
	res, err := http.Get(strings.ReplaceAll(link, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"restart-host", "Now: Done", "Inspect", "approved by ann", "Resume with <code>tocsin runbook resume " + exec} {
		if res.StatusCode != 200 || !strings.Contains(string(page), want) {
			t.Errorf("incident page (%d) lacks %q", res.StatusCode, want)
		}
	}
	if strings.Contains(string(page), "<button") || strings.Contains(string(page), "<form") {
		t.Error("the incident page can act")
	}

	// Resumed from the API, the last wait's Slack message loses its button too.
	post = runbookPost(t, ts, "Done")
	if code, body := ts.Send(t, "POST", "/api/v1/runbook-executions/"+exec+"/resume", `{"by":"dana"}`); code != 200 {
		t.Fatalf("resume: %d %v", code, body)
	}
	if upd := updateOf(t, ts, post); !strings.Contains(upd.Get("text"), "Resumed by dana via api") || strings.Contains(upd.Get("blocks"), "tocsin_runbook_resume") {
		t.Fatalf("update after an API resume: %v", upd)
	}
	// A click on it now changes nothing, and says so.
	slackClick(t, ts, post, "tocsin_runbook_resume", "U_ANN", "annie")
	if eph := ts.Slack.Ephemerals(); len(eph) != 2 || !strings.Contains(eph[1].Get("text"), "no longer waiting at this step (Success)") {
		t.Fatalf("ephemerals %v", eph)
	}
}

// waitingAt is the name of the execution's current step ("" none).
func waitingAt(t *testing.T, ts *apptest.Server, id string) string {
	t.Helper()
	_, body := ts.Get(t, "/api/v1/runbook-executions/"+id)
	s, _ := body["current_step"].(string)
	return s
}

func mailboxText(ts *apptest.Server) string {
	var b strings.Builder
	for i := range ts.Mail.Count() {
		b.WriteString(ts.Mail.Message(i))
	}
	return b.String()
}

func sinkText(ts *apptest.Server) string {
	b, _ := json.Marshal(ts.Sink.Deliveries())
	return string(b)
}
