package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// responseDir holds the response plans and routing of the documentation.
var responseDir = filepath.Join("..", "..", "examples", "response")

// TestExamplesResponseApply loads examples/oncall and examples/response
// through tocsin apply, as the README says: the plans and the routing are
// stored, a second apply changes nothing, and --prune of the response
// files alone would delete the routing only when it is left out.
func TestExamplesResponseApply(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	out, err := runCLI(t, env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)
	if err != nil || !strings.Contains(out, "applied: 31 created, 0 updated, 0 unchanged") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// Plans after what they engage, the routing after the plans.
	last := -1
	for _, line := range []string{"+ escalation plan app-escalation", "+ response plan EC2HighCPU", "+ routing (create)"} {
		i := strings.Index(out, line)
		if i <= last {
			t.Fatalf("%q is out of order in:\n%s", line, out)
		}
		last = i
	}
	code, body := ts.Get(t, "/api/v1/response-plans/Critical-Platform-Outage")
	plan, _ := json.Marshal(body["response_plan"])
	if code != 200 || !strings.Contains(string(plan), `"escalation_plan":"platform-tiered-escalation"`) || !strings.Contains(string(plan), `"delay":"2m0s"`) {
		t.Fatalf("GET plan: %d %s", code, plan)
	}
	code, body = ts.Get(t, "/api/v1/routing")
	routing, _ := json.Marshal(body["routing"])
	if code != 200 || !strings.Contains(string(routing), `"name":"platform-critical"`) {
		t.Fatalf("GET routing: %d %s", code, routing)
	}
	out, err = runCLI(t, env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)
	if err != nil || !strings.Contains(out, "applied: 0 created, 0 updated, 31 unchanged") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}

	// A file without the routing, pruned: the routing goes first (it
	// names the plans), then what the files no longer have.
	dir := writeFiles(t, map[string]string{"plans.yaml": "kind: ResponsePlan\nname: Solo\nincident_template: {title: solo}\n"})
	out, err = runCLI(t, env, "apply", "-f", examplesDir, "-f", dir, "--prune", "--dry-run")
	if err != nil || !strings.Contains(out, "- routing (delete: not in the files)") || !strings.Contains(out, "- response plan EC2HighCPU (delete") {
		t.Fatalf("prune dry run: %v\n%s", err, out)
	}
	if i, j := strings.Index(out, "- routing"), strings.Index(out, "- response plan"); i > j {
		t.Fatalf("the routing must be deleted before the plans it names:\n%s", out)
	}
	out, err = runCLI(t, env, "apply", "-f", examplesDir, "-f", dir, "--prune")
	if err != nil || !strings.Contains(out, "1 created") || !strings.Contains(out, "5 deleted") {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	if code, _ := ts.Get(t, "/api/v1/routing"); code != 404 {
		t.Fatalf("routing after prune: %d", code)
	}
}

// TestResponsePlanAPIRefusesBadInput checks the put-time checks: each
// refusal is 400 naming the document and field, and changes nothing; a
// notification target's secret is never shown.
func TestResponsePlanAPIRefusesBadInput(t *testing.T) {
	ts := startOnCallServer(t)
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "t", "impact": 7}}`, "response plan P: incident_template.impact: 7 is not between 1"},
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "t"}, "engagements": [{"escalation_plan": "nope"}]}`, `engagements[0].escalation_plan: "nope" does not exist`},
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "t"}, "chat_channels": [{"channel": "telegram"}]}`, `chat_channels[0].channel: "telegram" is not an enabled channel`},
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "t", "notification_targets": [{"webhook": "http://127.0.0.1:9/x?token=abc"}]}}`, "incident_template.notification_targets[0].webhook:"},
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "{{ .labels"}}`, "incident_template.title: does not parse"},
		{"/api/v1/response-plans/P", `{"incident_template": {"title": "t"}, "colour": "red"}`, "colour"},
		{"/api/v1/routing", `{"rules": [{"name": "r", "response_plan": "Missing"}]}`, `routing: rules[0].response_plan: "Missing" is not a response plan`},
		{"/api/v1/routing", `{"rules": [{"name": "r", "notify_only": true, "match": {"labels": {"team": {"regex": "("}}}}]}`, "rules[0].match.labels.team: invalid regex"},
	} {
		code, body := ts.Put(t, c.path, c.body)
		msg := mustJSON(body)
		if e, ok := body["error"].(map[string]any); ok {
			msg, _ = e["message"].(string)
		}
		if code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("PUT %s %s: %d %s; want 400 with %q", c.path, c.body, code, msg, c.want)
		}
		if strings.Contains(msg, "token=abc") {
			t.Errorf("the webhook URL is repeated: %s", msg)
		}
	}
	if _, body := ts.Get(t, "/api/v1/response-plans"); len(body["response_plans"].([]any)) != 0 {
		t.Fatalf("a refused plan was stored: %v", body)
	}
	code, body := ts.Put(t, "/api/v1/response-plans/P", `{"incident_template": {"title": "t", "notification_targets": [{"webhook": "https://hooks.example.com/x", "secret": "hunter2"}]}}`)
	if b, _ := json.Marshal(body); code != 201 || strings.Contains(string(b), "hunter2") {
		t.Fatalf("PUT plan with a secret: %d %s", code, b)
	}
	if _, body := ts.Get(t, "/api/v1/response-plans"); strings.Contains(mustJSON(body), "hunter2") {
		t.Fatalf("the list shows the secret: %v", body)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestResponsePlanTeamsDestinationMustBeAnAlternate: a chat channel's
// destination for Teams (and Lark) is the key of one of the channel's
// configured alternates; another key is refused when the plan is put.
func TestResponsePlanTeamsDestinationMustBeAnAlternate(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.MSTeams = config.MSTeams{Enable: true, PowerAutomateURL: "https://teams.example.com/default",
			OtherPowerURLs: map[string]string{"qc": "https://teams.example.com/qc"}}
	})
	plan := func(dest string) string {
		return `{"incident_template": {"title": "t"}, "chat_channels": [{"channel": "msteams", "destination": "` + dest + `"}]}`
	}
	code, body := ts.Put(t, "/api/v1/response-plans/P", plan("ops"))
	if e, _ := body["error"].(map[string]any); code != 400 || !strings.Contains(e["message"].(string), `chat_channels[0].destination: "ops" is not a configured alternate of msteams`) {
		t.Fatalf("unknown alternate: %d %v", code, body)
	}
	if code, body := ts.Put(t, "/api/v1/response-plans/P", plan("qc")); code != 201 {
		t.Fatalf("a configured alternate: %d %v", code, body)
	}
}
