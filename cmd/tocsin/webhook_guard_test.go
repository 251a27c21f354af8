package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// contactHook is a local receiver for contacts' webhook channels, and a
// URL to it by name: "localhost" is not an address the API can judge from
// the text, so only the check at connect time (after DNS) can refuse it.
func contactHook(t *testing.T) (*apptest.Sink, string) {
	t.Helper()
	s := apptest.NewSink(t)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return s, "http://localhost:" + port + "/hook?token=s3cret"
}

func putContact(t *testing.T, ts *apptest.Server, alias, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("PUT", ts.URL+"/api/v1/contacts/"+alias, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apptest.APIToken)
	return apptest.Do(t, req)
}

// TestContactWebhookSSRFRefusedAtConnect: a contact's webhook pointing into
// tocsin's own network is refused when saved (literal address) and when
// dialled (a name resolving to loopback, e.g. after DNS rebinding or saved
// before the check existed): the activation code and the page never reach
// it, the page fails once, permanently, on the timeline. The operator's
// own alert.webhook on 127.0.0.1 still delivers.
func TestContactWebhookSSRFRefusedAtConnect(t *testing.T) {
	var logs syncBuffer
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil, func(o *app.Options) {
		o.Logger = newLogger(config.Log{Level: "debug"}, &logs)
	})
	hook, byName := contactHook(t)
	ctx := context.Background()

	status, body := putContact(t, ts, "alice", `{"name":"Alice","channels":[{"name":"hook","type":"webhook","address":"`+hook.URL+`/hook"}]}`)
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 400 || !strings.Contains(msg, "channels[0].address") {
		t.Fatalf("literal loopback webhook: %d %v", status, body)
	}

	if _, err := ts.App.Store().OnCall().PutContact(ctx, &tocsin.Contact{Alias: "alice", Name: "Alice",
		Channels: []tocsin.ContactChannel{{Name: "hook", Type: tocsin.ChannelWebhook, Address: byName}}}); err != nil {
		t.Fatal(err)
	}
	if status, body := ts.Post(t, "/api/v1/contacts/alice/channels/hook/activation", apptest.APIToken, ``); status != 202 {
		t.Fatalf("activation: %d %v", status, body)
	}
	apptest.Eventually(t, "activation refused", func() bool { return strings.Contains(logs.String(), "activation code not sent") })
	if l := logs.String(); !strings.Contains(l, "loopback") || strings.Contains(l, "s3cret") {
		t.Fatalf("activation log:\n%s", l)
	}

	// Activated by other means, the channel is paged: refused at connect.
	code, err := ts.App.Store().OnCall().StartActivation(ctx, "alice", "hook")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.App.Store().OnCall().Activate(ctx, "alice", "hook", code); err != nil {
		t.Fatal(err)
	}
	// The contact's own test page runs its whole engagement plan (issue 9 #2).
	status, res := ts.Post(t, "/api/v1/contacts/alice/test-page", apptest.APIToken, ``)
	if status != 202 {
		t.Fatalf("test page: %d %v", status, res)
	}
	id := res["incident_id"].(string)
	apptest.Eventually(t, "page failed", func() bool { return hasEvent(ts.Incident(t, id), tocsin.EventPage, "failed") })
	inc := ts.Incident(t, id)
	if !hasEvent(inc, tocsin.EventPage, "loopback") || hasEvent(inc, tocsin.EventPage, "s3cret") {
		t.Fatalf("timeline: %v", eventsOf(inc))
	}
	engs, err := ts.App.Store().Engagements().ForIncident(ctx, id)
	if err != nil || len(engs) != 1 || len(engs[0].Pages) != 1 || engs[0].Pages[0].Status != tocsin.PageError {
		t.Fatalf("engagements: %+v %v", engs, err)
	}
	if n := hook.Attempts(); n != 0 {
		t.Errorf("the contact's webhook got %d requests", n)
	}
	// The team's webhook from the config file is on 127.0.0.1 too, and
	// is not restricted.
	_, body = ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"disk full"}`)
	team := apptest.FirstID(t, body)
	apptest.Eventually(t, "team webhook", func() bool { return ts.Sink.Find(team, "opened") != nil })
}

// TestContactWebhookPrivateAllowedByOperator: with the operator's
// paging.webhook_allowed_networks covering loopback, the same contact
// webhook is saved through the API and receives its activation code.
func TestContactWebhookPrivateAllowedByOperator(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Paging.WebhookAllowedNetworks = []string{"127.0.0.0/8", "::1/128"}
	})
	hook, byName := contactHook(t)
	for _, url := range []string{hook.URL + "/hook", byName} {
		status, body := putContact(t, ts, "alice", `{"name":"Alice","channels":[{"name":"hook","type":"webhook","address":"`+url+`"}]}`)
		if status != 201 && status != 200 {
			t.Fatalf("allowed loopback webhook %s: %d %v", url, status, body)
		}
	}
	if status, body := ts.Post(t, "/api/v1/contacts/alice/channels/hook/activation", apptest.APIToken, ``); status != 202 {
		t.Fatalf("activation: %d %v", status, body)
	}
	apptest.Eventually(t, "activation code delivered", func() bool {
		for _, d := range hook.Deliveries() {
			if n, _ := d["notice"].(map[string]any); n != nil && d["event"] == "notice" && d["incident"] == nil && strings.Contains(n["text"].(string), "activation code") {
				return true
			}
		}
		return false
	})
}

// TestContactWebhookPrivateApply: `tocsin apply` reports the server's
// refusal naming the field, and changes nothing.
func TestContactWebhookPrivateApply(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	dir := t.TempDir()
	doc := "kind: Contact\nalias: alice\nname: Alice\nchannels:\n  - {name: hook, type: webhook, address: \"http://169.254.169.254/latest/meta-data/\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "alice.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	out, err := runCLI(t, env, "apply", "-f", dir)
	if err == nil || !strings.Contains(out+err.Error(), "channels[0].address") || !strings.Contains(out+err.Error(), "link-local") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if _, err := ts.App.Store().OnCall().FindContact(context.Background(), "alice"); err == nil {
		t.Fatal("the contact was stored")
	}
}
