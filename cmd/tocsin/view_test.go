package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

// The "View the incident" link of every message opens a page a person can
// read without an API token; it cannot acknowledge, and a forged one is refused.
func TestIncidentViewLink(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload(`{}:{alertname="DiskFull"}`, "firing", "db-1"))
	if status != http.StatusCreated {
		t.Fatalf("firing: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "webhook delivery", func() bool { return ts.Sink.Find(id, "opened") != nil })
	link, _ := ts.Sink.Find(id, "opened")["incident_url"].(string)
	if !strings.HasPrefix(link, ts.URL+"/incidents/"+id+"?exp=") {
		t.Fatalf("incident_url = %q, want a signed /incidents/ link", link)
	}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, page := get(link)
	if code != http.StatusOK || !strings.Contains(page, "Latency high on db-1") || !strings.Contains(page, "Timeline") || !strings.Contains(page, "created") {
		t.Fatalf("view page: %d\n%s", code, page)
	}
	if code, _ := get(strings.Replace(link, "sig=", "sig=00", 1)); code != http.StatusUnauthorized {
		t.Fatalf("forged view link: %d, want 401", code)
	}
	// The view link's signature does not acknowledge.
	ackWithView := strings.Replace(link, "/incidents/", "/api/ack/", 1)
	res, err := http.Post(ackWithView, "application/x-www-form-urlencoded", strings.NewReader("name=mallory"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("view link posted as an ack link: %d, want 401", res.StatusCode)
	}
	if inc := ts.Incident(t, id); inc.Status != "triggered" {
		t.Fatalf("incident %s after a view-link ack attempt", inc.Status)
	}
}
