package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	exRouting = "../../examples/response/routing.yaml"
	exPlans   = "../../examples/response/response-plans.yaml"
	exAlerts  = "../../examples/response/alerts/"
	exOnCall  = "../../examples/oncall"
	// Tuesday 10 March 2026 10:00 in Berlin: business hours; wendy is on
	// call for Platform and gray for App (examples/oncall/README.md).
	tuesday10 = "2026-03-10T10:00:00+01:00"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

func TestRouteTestSeedRouting(t *testing.T) {
	routeTest := func(alert string, extra ...string) string {
		t.Helper()
		args := append([]string{"route", "test", "-f", alert, "--routing", exRouting, "--plans", exPlans, "--time-zone", "Europe/Berlin"}, extra...)
		out, err := runCLI(t, nil, args...)
		if err != nil {
			t.Fatalf("route test %s: %v\n%s", alert, err, out)
		}
		return out
	}
	// Platform critical: Critical-Platform-Outage, allowed to page, through
	// Platform-Tiered-Escalation: wendy first, two minutes after.
	out := routeTest(exAlerts+"platform-critical.json", "--source", "alertmanager", "--at", tuesday10, "--oncall", exOnCall)
	wantLines(t, out,
		"in through alertmanager at Tue 2026-03-10 10:00 +01:00",
		`- rule cloudwatch-high-cpu (rules[0]) did not match: source is "alertmanager", not "cloudwatch"`,
		`- rule business-hours (rules[1]) did not match: labels.timeperiod is "", not "business-hours"`,
		"+ rule platform-critical (rules[2]) matched:\n    severity = \"critical\"\n    team = \"platform\"\n",
		"→ response plan Critical-Platform-Outage",
		`incident: "Platform outage: APIDown on api-1:8080", impact 1 (critical)`,
		"chat channel: slack → C0PLATFORM (instead of its default destination)",
		`paging: allowed: the paging policy allows it: plan Critical-Platform-Outage matches "*Critical*", impact 1 is within 1 to 3`,
		"engages escalation plan platform-tiered-escalation after 2m unless acknowledged first",
		"engaging escalation plan platform-tiered-escalation at Tue 2026-03-10 10:02 +01:00",
		"(offline: every contact channel is counted as activated)")
	if !hasLine(out, "+0s", "10:02", "1 *", "wendy", "work-email (email)", "schedule platform") {
		t.Errorf("wendy is not paged first:\n%s", out)
	}
	if strings.Contains(out, "platform-high") {
		t.Errorf("a rule after the first match was tried:\n%s", out)
	}

	// Platform high: channels only.
	out = routeTest(exAlerts+"platform-high.json", "--at", tuesday10)
	wantLines(t, out, "in through versus", "+ rule platform-high (rules[3]) matched:", "→ notify only: the channels are told, nobody is paged")
	if strings.Contains(out, "engag") {
		t.Errorf("a notify-only alert engages someone:\n%s", out)
	}

	// The blog's alarm inside an SNS notification, detected: EC2HighCPU,
	// cpu-incident-1, impact 3, the App escalation plan (gray on call).
	alarm, err := os.ReadFile(exAlerts + "ec2-high-cpu.json")
	if err != nil {
		t.Fatal(err)
	}
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m-1", "Timestamp": "2026-03-10T09:00:00Z",
		"TopicArn": "arn:aws:sns:eu-central-1:123456789012:tocsin", "Message": string(alarm)})
	out = routeTest(writeFile(t, "sns.json", string(sns)), "--at", tuesday10, "--oncall", exOnCall)
	wantLines(t, out, "(source cloudwatch, severity (none), status firing), in through cloudwatch",
		"+ rule cloudwatch-high-cpu (rules[0]) matched:", `labels.namespace = "AWS/EC2"`,
		"→ response plan EC2HighCPU", `incident: "cpu-incident-1", impact 3 (medium)`,
		`dedupe string: "ec2-high-cpu/i-0abc123def4567890"`,
		"paging: allowed: the paging policy allows it: plan EC2HighCPU is listed, impact 3 is within 1 to 3",
		"engages escalation plan app-escalation at once")
	if !hasLine(out, "+0s", "10:00", "1 *", "gray", "work-email (email)", "schedule app") {
		t.Errorf("gray is not paged first:\n%s", out)
	}
	// The bare alarm with --source cloudwatch routes the same.
	wantLines(t, routeTest(exAlerts+"ec2-high-cpu.json", "--source", "cloudwatch", "--at", tuesday10), "→ response plan EC2HighCPU")

	// Business hours: an alert labelled for them tells the channels while
	// the office is open, and goes on to the team rules after hours.
	business := writeFile(t, "business.json", `{"receiver":"tocsin","status":"firing","alerts":[{"status":"firing",
		"labels":{"alertname":"QueueBacklog","severity":"critical","team":"platform","timeperiod":"business-hours"}}]}`)
	wantLines(t, routeTest(business, "--at", tuesday10),
		"+ rule business-hours (rules[1]) matched:", "time_window MON,TUE,WED,THU,FRI 08:00-18:00 Europe/Berlin holds at Tue 10:00 CET", "→ notify only")
	wantLines(t, routeTest(business, "--at", "2026-03-10T20:00:00+01:00"),
		"- rule business-hours (rules[1]) did not match: time_window MON,TUE,WED,THU,FRI 08:00-18:00 Europe/Berlin does not hold at Tue 20:00 CET",
		"+ rule platform-critical (rules[2]) matched:", `incident: "Platform outage: QueueBacklog", impact 1`)

	// Application critical: the App plan. Anything else: the default.
	app := writeFile(t, "app.json", `{"title":"Checkout errors","severity":"critical","labels":{"team":"application"}}`)
	wantLines(t, routeTest(app, "--source", "generic", "--at", tuesday10), "+ rule application-critical (rules[4]) matched:", "→ response plan App-Critical", "paging: allowed")
	db := writeFile(t, "db.json", `{"title":"Replica lag","severity":"critical","labels":{"team":"db"}}`)
	wantLines(t, routeTest(db, "--source", "generic", "--at", tuesday10), "no rule matched: the default applies", "→ notify only")
}

// A plan outside the paging policy is refused, and says so.
func TestRouteTestPagingPolicyRefuses(t *testing.T) {
	routing := writeFile(t, "routing.yaml", `kind: Routing
rules:
  - name: everything
    response_plan: EC2HighCPU
paging_policy:
  plans: ["*Critical*"]
`)
	out, err := runCLI(t, nil, "route", "test", "-f", exAlerts+"platform-high.json", "--routing", routing, "--plans", exPlans, "--at", tuesday10)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantLines(t, out, "+ rule everything (rules[0]) matched:\n    no conditions: matches every alert",
		"paging: refused: the paging policy refuses plan EC2HighCPU: it matches none of *Critical*; nobody is paged")
	if strings.Contains(out, "engages") {
		t.Errorf("a refused plan engages:\n%s", out)
	}
}

func TestRouteTestBadRules(t *testing.T) {
	good := "kind: Routing\nrules:\n  - name: r\n    response_plan: EC2HighCPU\n"
	for _, tc := range []struct {
		name, routing, plans string
		extra                []string
		want                 []string
	}{
		{"invalid regex", "kind: Routing\nrules:\n  - name: ok\n    notify_only: true\n  - name: r\n    match:\n      labels:\n        team: {regex: \"plat(form\"}\n    notify_only: true\n", "", nil,
			[]string{"routing.yaml: document 1: routing: rules[1].match.labels.team: invalid regex \"plat(form\": missing closing )"}},
		{"unknown key", "kind: Routing\nrules:\n  - name: r\n    notify_only: true\n    contine: true\n", "", nil,
			[]string{"routing.yaml: document 1 (kind Routing): unknown key \"rules[0].contine\" (line 5); did you mean \"continue\"?"}},
		{"bad window", "kind: Routing\nrules:\n  - name: r\n    notify_only: true\n    time_window: {time_zone: Europe/Berlin, days: [Monday], start: \"8:00\", end: \"18:00\"}\n", "", nil,
			[]string{`rules[0].time_window.days[0]: "Monday" is not MON`, `rules[0].time_window.start: "8:00" is not HH:MM`}},
		{"missing plan", "kind: Routing\nrules:\n  - name: r\n    response_plan: Nope\ndefault: {response_plan: Gone}\n", "", nil,
			[]string{`routing.yaml: document 1: routing: rules[0].response_plan: "Nope" is not a response plan; default.response_plan: "Gone" is not a response plan`}},
		{"no action", "kind: Routing\nrules:\n  - name: r\n", "", nil, []string{"rules[0].response_plan: required (or notify_only: true)"}},
		{"two routings", good + "---\n" + good, "", nil, []string{"routing.yaml: document 2: a second Routing document (the first is"}},
		{"bad plan", good, "kind: ResponsePlan\nname: EC2HighCPU\nincident_template: {title: \"{{ .title\", impact: 7}\n", nil,
			[]string{"plans.yaml: document 1: response plan EC2HighCPU: ", "incident_template.title: does not parse: template: title:1: unclosed action", "incident_template.impact: 7 is not between 1 (critical) and 5"}},
		{"missing escalation plan", good, "kind: ResponsePlan\nname: EC2HighCPU\nincident_template: {title: x}\nengagements:\n  - escalation_plan: nope\n", []string{"--oncall", exOnCall},
			[]string{`plans.yaml: document 1: response plan EC2HighCPU: engagements[0].escalation_plan: "nope" does not exist (not in ../../examples/oncall)`}},
		{"unknown source", good, "", []string{"--source", "nagios"}, []string{`--source: "nagios" is not one of alertmanager, grafana, cloudwatch, sentry, pagerduty, generic, versus`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			routing := filepath.Join(dir, "routing.yaml")
			plans := exPlans
			if err := os.WriteFile(routing, []byte(tc.routing), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.plans != "" {
				plans = filepath.Join(dir, "plans.yaml")
				if err := os.WriteFile(plans, []byte(tc.plans), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"route", "test", "-f", exAlerts + "platform-high.json", "--routing", routing, "--plans", plans}, tc.extra...)
			out, err := runCLI(t, nil, args...)
			if err == nil {
				t.Fatalf("route test succeeded, want an error:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
