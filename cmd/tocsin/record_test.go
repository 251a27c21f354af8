package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// Triage as responders do it: an incident started from the CLI, its impact
// raised, a note, a custom event referring to a related item, an
// attachment and a link under a parent — all on the incident and, in
// order and with who did it, on its timeline; bad input changes nothing.
func TestIncidentRecordTriage(t *testing.T) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			ts := apptest.Start(t, k.URL(t), func(c *config.Config) { c.Incidents.AttachmentMaxBytes = 1024 })
			env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL, "USER": "dana"}
			out, err := runCLI(t, env, "incident", "start", "--title", "Checkout errors", "--tag", "service=checkout", "--by", "alice", "--json")
			if err != nil {
				t.Fatalf("start: %v\n%s", err, out)
			}
			var started struct {
				Incident tocsin.Incident `json:"incident"`
				Created  bool            `json:"created"`
			}
			if err := json.Unmarshal([]byte(out), &started); err != nil || !started.Created || started.Incident.Impact != 3 {
				t.Fatalf("start answer: %v\n%s", err, out)
			}
			id := started.Incident.ID
			path := "/api/v1/incidents/" + id
			apptest.Eventually(t, "the channels hear of it", func() bool { return ts.Sink.Find(id, "opened") != nil })

			if out, err := runCLI(t, env, "incident", "update", id, "--impact", "2", "--by", "bob"); err != nil || !strings.Contains(out, "impact 2 (high)") {
				t.Fatalf("update: %v\n%s", err, out)
			}
			status, body := ts.Send(t, "POST", path+"/related-items", `{"type":"metric","title":"5xx rate","value":"https://grafana.example.com/d/checkout","by":"alice"}`)
			if status != http.StatusCreated {
				t.Fatalf("metric: %d %v", status, body)
			}
			metricID := body["related_item"].(map[string]any)["id"].(string)
			status, body = ts.Send(t, "POST", path+"/timeline", `{"event_type":"Custom Event","event_data":"5xx started with deploy v42",
				"event_references":[{"related_item_id":"`+metricID+`"}],"by":"alice"}`)
			if status != http.StatusCreated {
				t.Fatalf("custom event: %d %v", status, body)
			}
			customID := body["event"].(map[string]any)["id"].(string)
			if status, body = ts.Send(t, "POST", path+"/notes", `{"text":"Rolling back","by":"carol"}`); status != http.StatusCreated {
				t.Fatalf("note: %d %v", status, body)
			}
			status, body = ts.Send(t, "POST", path+"/related-items", `{"type":"attachment","title":"error log","filename":"errors.log",
				"content_type":"text/html","content":"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==","by":"carol"}`)
			if status != http.StatusCreated {
				t.Fatalf("attachment: %d %v", status, body)
			}
			attID := body["related_item"].(map[string]any)["id"].(string)
			_, parentBody := ts.Send(t, "POST", "/api/v1/incidents", `{"title":"EU region degraded","impact":1,"by":"erin"}`)
			parentID := parentBody["incident"].(map[string]any)["id"].(string)
			if status, body = ts.Send(t, "POST", path+"/related-items", `{"type":"parent","value":"`+parentID+`","by":"bob"}`); status != http.StatusCreated {
				t.Fatalf("parent: %d %v", status, body)
			}

			// Bad input: 4xx naming the field, nothing written.
			before := len(ts.Incident(t, id).Timeline)
			for _, bad := range []struct{ method, path, body, field string }{
				{"PATCH", path, `{"impact":7,"by":"bob"}`, "impact"},
				{"PATCH", path, `{"impact":2,"severity":"high"}`, "severity"},
				{"POST", path + "/timeline", `{"event_type":"Note","event_data":"` + strings.Repeat("x", 12001) + `"}`, "event_data"},
				{"POST", path + "/related-items", `{"type":"dashboard","value":"https://x.example.com"}`, "type"},
				{"POST", path + "/related-items", `{"type":"attachment","filename":"big.bin","content":"` + strings.Repeat("QUFB", 400) + `"}`, "content"},
				{"POST", "/api/v1/incidents/" + parentID + "/related-items", `{"type":"parent","value":"` + id + `"}`, "cycle"},
				{"POST", "/api/v1/incidents", `{"title":"x","response_plan":"EC2HighCPU"}`, "response_plan"},
			} {
				status, body := ts.Send(t, bad.method, bad.path, bad.body)
				msg, _ := json.Marshal(body)
				if status != http.StatusBadRequest || !strings.Contains(string(msg), bad.field) {
					t.Errorf("%s %s %.60s: %d %s; want 400 naming %s", bad.method, bad.path, bad.body, status, msg, bad.field)
				}
			}
			if n := len(ts.Incident(t, id).Timeline); n != before {
				t.Fatalf("bad input wrote %d timeline events", n-before)
			}
			// Only the author edits a custom event.
			if status, _ := ts.Send(t, "PATCH", path+"/timeline/"+customID, `{"event_data":"not mine","by":"bob"}`); status != http.StatusForbidden {
				t.Fatalf("edit by another: %d", status)
			}
			if status, body := ts.Send(t, "PATCH", path+"/timeline/"+customID, `{"event_data":"5xx started with deploy v42 (confirmed)","by":"alice"}`); status != http.StatusOK {
				t.Fatalf("edit by the author: %d %v", status, body)
			}

			inc := ts.Incident(t, id)
			if inc.Impact != 2 || len(inc.RelatedItems) != 3 || inc.Tags["service"] != "checkout" {
				t.Fatalf("incident: impact %d, %d related items, tags %v", inc.Impact, len(inc.RelatedItems), inc.Tags)
			}
			var got []string
			for _, e := range inc.Timeline {
				if e.Kind != tocsin.EventNotificationSent {
					got = append(got, e.Kind+" by "+e.Actor)
				}
			}
			want := []string{"created by alice via api", "triage by bob via api", "related_item by alice via api", "custom_event by alice via api",
				"note by carol via api", "related_item by carol via api", "related_item by bob via api", "event_edited by alice via api"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, e := range inc.Timeline {
				if e.Kind == tocsin.EventTriage && !strings.Contains(e.Message, "from 3 (medium) to 2 (high)") {
					t.Fatalf("triage event: %q", e.Message)
				}
			}
			status, body = ts.Get(t, "/api/v1/incidents/"+parentID)
			children, _ := body["incident"].(map[string]any)["children"].([]any)
			if status != http.StatusOK || len(children) != 1 || children[0].(map[string]any)["id"] != id {
				t.Fatalf("parent's children: %d %v", status, body["incident"])
			}
			// The timeline filtered: responders' own events, newest first.
			status, body = ts.Get(t, path+"/timeline?type=Note,Custom%20Event&order=desc")
			events, _ := body["events"].([]any)
			if status != http.StatusOK || len(events) != 2 || events[0].(map[string]any)["kind"] != "note" {
				t.Fatalf("filtered timeline: %d %v", status, body)
			}
			// An attachment is served as a download, never rendered.
			req, _ := http.NewRequest("GET", ts.URL+path+"/related-items/"+attID+"/content", nil)
			req.Header.Set("Authorization", "Bearer "+apptest.APIToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			content, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(content) != "<script>alert(1)</script>" || res.Header.Get("Content-Type") != "text/html" ||
				res.Header.Get("Content-Disposition") != `attachment; filename=errors.log` || !strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Fatalf("content: %q %v", content, res.Header)
			}
		})
	}
}

// A retried start with the same client token opens one incident.
func TestIdempotentStart(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	req := `{"title":"Payments failing","impact":1,"summary":"card auth 5xx","client_token":"retry-me",
		"trigger_details":{"source":"synthetics","timestamp":"2026-03-01T12:00:00Z","raw_data":"{\"check\":\"pay\"}"}}`
	status, first := ts.Send(t, "POST", "/api/v1/incidents", req)
	if status != http.StatusCreated || first["created"] != true {
		t.Fatalf("first: %d %v", status, first)
	}
	status, again := ts.Send(t, "POST", "/api/v1/incidents", req)
	if status != http.StatusOK || again["created"] != false {
		t.Fatalf("retry: %d %v", status, again)
	}
	id := first["incident"].(map[string]any)["id"]
	if again["incident"].(map[string]any)["id"] != id || ts.IncidentCount(t) != 1 {
		t.Fatalf("retry opened another incident: %v vs %v, %d incidents", again["incident"].(map[string]any)["id"], id, ts.IncidentCount(t))
	}
	inc := ts.Incident(t, id.(string))
	if inc.TriggerDetails == nil || inc.TriggerDetails.Source != "synthetics" || inc.Impact != 1 {
		t.Fatalf("incident: %+v", inc)
	}
}

// A deploy reported as a PagerDuty change event shows as a finding of
// the incident its service opens next.
func TestPagerDutyChangeEventIsAFinding(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	status, raw := ts.PostRaw(t, "/v2/change/enqueue", `{"routing_key":"`+apptest.IngestToken+`","payload":{"summary":"Deploy checkout v42",
		"timestamp":"2020-01-01T00:00:00Z","source":"ci","custom_details":{"service":"checkout","build":"1234"}},
		"links":[{"href":"https://ci.example.com/builds/1234","text":"build"}]}`)
	if status != http.StatusAccepted || !strings.Contains(string(raw), `"message":"Change event processed"`) {
		t.Fatalf("PagerDuty change: %d %s", status, raw)
	}
	status, raw = ts.PostRaw(t, "/v2/change/enqueue", `{"routing_key":"wrong","payload":{"summary":"x","source":"ci"}}`)
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "routing key") {
		t.Fatalf("wrong routing key: %d %s", status, raw)
	}
	status, raw = ts.PostRaw(t, "/v2/change/enqueue", `{"routing_key":"`+apptest.IngestToken+`","payload":{"source":"ci"}}`)
	if status != http.StatusBadRequest || !strings.Contains(string(raw), `"status":"invalid event"`) || !strings.Contains(string(raw), "payload.summary") {
		t.Fatalf("change without a summary: %d %s", status, raw)
	}
	status, body := ts.Post(t, "/api/v1/changes", apptest.IngestToken, `{"service":"checkout","summary":"Feature flag new-cart on","source":"flags"}`)
	if status != http.StatusCreated {
		t.Fatalf("our change: %d %v", status, body)
	}
	if status, body = ts.Post(t, "/api/v1/changes", apptest.IngestToken, `{"service":"checkout","summary":"x","colour":"red"}`); status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %v", status, body)
	}
	// The PagerDuty change is dated 2020: outside the 2h window. Re-send it now.
	status, raw = ts.PostRaw(t, "/v2/change/enqueue", `{"routing_key":"`+apptest.IngestToken+`","payload":{"summary":"Deploy checkout v42",
		"source":"ci","custom_details":{"service":"checkout"}},"links":[{"href":"https://ci.example.com/builds/1234","text":"build"}]}`)
	if status != http.StatusAccepted {
		t.Fatalf("PagerDuty change: %d %s", status, raw)
	}
	_, body = ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"checkout 5xx","severity":"critical","dedup_key":"co","labels":{"service":"checkout"}}`)
	id := apptest.FirstID(t, body)
	status, body = ts.Get(t, "/api/v1/incidents/"+id+"/findings")
	findings, _ := body["findings"].([]any)
	if status != http.StatusOK || len(findings) != 2 {
		t.Fatalf("findings: %d %v", status, body)
	}
	var summaries []string
	for _, f := range findings {
		summaries = append(summaries, f.(map[string]any)["summary"].(string))
	}
	if !strings.Contains(strings.Join(summaries, "|"), "Deploy checkout v42") || !strings.Contains(strings.Join(summaries, "|"), "Feature flag new-cart on") {
		t.Fatalf("findings: %v", summaries)
	}
	if inc := ts.Incident(t, id); len(inc.Findings) != 2 || inc.Findings[0].Links == nil && inc.Findings[1].Links == nil {
		t.Fatalf("GET incident findings: %+v", inc.Findings)
	}
}

// TestStartFromAResponsePlan: an incident started by hand from a response
// plan is shaped by it as an alert's would be — the template's title when
// the request gives none, the plan's chat channel, its engagements — and
// what the request does say wins over the template.
func TestStartFromAResponsePlan(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	ctx := t.Context()
	oc := ts.App.Store().OnCall()
	if _, err := oc.PutContact(ctx, &tocsin.Contact{Alias: "ann", Name: "Ann", Channels: []tocsin.ContactChannel{{Name: "work", Type: "email", Address: "ann@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "db-escalation", Stages: []tocsin.Stage{
		{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Contact: "ann", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	if st, body := ts.Put(t, "/api/v1/response-plans/DB-Outage", `{"incident_template":{"title":"database outage","impact":2,"summary":"primary unreachable"},
		"engagements":[{"escalation_plan":"db-escalation"}],"chat_channels":[{"channel":"slack","destination":"C0DBTEAM"}]}`); st/100 != 2 {
		t.Fatalf("plan: %d %v", st, body)
	}
	status, body := ts.Send(t, "POST", "/api/v1/incidents", `{"response_plan":"DB-Outage","impact":1}`)
	if status != http.StatusCreated {
		t.Fatalf("start from a plan: %d %v", status, body)
	}
	inc := body["incident"].(map[string]any)
	if inc["title"] != "database outage" || inc["impact"] != float64(1) || inc["summary"] != "primary unreachable" || inc["response_plan"] != "DB-Outage" {
		t.Fatalf("incident: %v", inc)
	}
	id := inc["id"].(string)
	got := ts.Incident(t, id)
	if !hasEvent(got, tocsin.EventRouted, "response plan DB-Outage") || !hasEvent(got, tocsin.EventEngaged, "engaging escalation plan db-escalation") {
		t.Fatalf("timeline: %v", eventsOf(got))
	}
	apptest.Eventually(t, "slack post to the plan's channel", func() bool {
		for _, p := range ts.Slack.Posts() {
			if p.Get("channel") == "C0DBTEAM" {
				return true
			}
		}
		return false
	})
}
