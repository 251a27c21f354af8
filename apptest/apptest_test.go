package apptest_test

import (
	"net/http"
	"strings"
	"testing"

	"tocsin"
	"tocsin/apptest"
	"tocsin/store/storetest"
)

// TestStartDelivers starts a real tocsin from outside cmd/tocsin, fires an
// alert and sees it on every fake: the webhook sink (signed), Slack and
// the mailbox.
func TestStartDelivers(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g", "firing", "web-1"))
	if status != http.StatusCreated {
		t.Fatalf("intake: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "the opened notifications", func() bool {
		posts, _ := ts.Slack.Counts()
		return ts.Sink.Find(id, "opened") != nil && posts == 1 && ts.Mail.Count() == 1
	})
	if sig, _ := ts.Sink.Find(id, "opened")["_signature"].(string); !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("webhook delivery not signed: %q", sig)
	}
	if got := ts.Slack.Posts()[0].Get("channel"); got != "C0INCIDENT" {
		t.Fatalf("slack channel %q", got)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("incident %s", inc.Status)
	}
	if n := ts.IncidentCount(t); n != 1 {
		t.Fatalf("%d incidents", n)
	}
}
