package main

import (
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/integration/integrationtest"
	"tocsin/store/storetest"
)

// versusServer starts tocsin from the Versus configuration of the reference
// document (config/testdata/versus.yaml: Slack, on-call initialized_only,
// wait_minutes 2, AWS Incident Manager with an "app" alternate plan), its
// ${…} variables set, pointed at local fakes, with the clock in the test's hands.
func versusServer(t *testing.T, dbURL string, clock *storetest.Clock) (*apptest.Server, *integrationtest.AWS) {
	t.Helper()
	aws := integrationtest.NewAWS(t)
	aws.SetEnv(t)
	env := map[string]string{"SLACK_TOKEN": "xoxb-test", "SLACK_CHANNEL_ID": "C0VERSUS", "REDIS_HOST": "localhost", "REDIS_PORT": "6379", "REDIS_PASSWORD": "x"}
	res, err := config.Load("../../config/testdata/versus.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unused) != 1 {
		t.Fatalf("unused keys: %v", res.Unused)
	}
	vcfg := res.Config
	ts := apptest.Start(t, dbURL, func(c *config.Config) {
		public := c.PublicHost
		slackURL := c.Alert.Slack.APIURL
		dataDir, db := c.DataDir, c.Database
		api, ingestTokens := c.API, c.Ingest
		*c = *vcfg
		c.PublicHost, c.DataDir, c.Database, c.API, c.Ingest = public, dataDir, db, api, ingestTokens
		c.Alert.Slack.APIURL = slackURL
		// The file's template_path is relative to Versus's working
		// directory; this Versus-style template uses the payload's fields.
		c.Alert.Slack.TemplatePath = "../../config/testdata/slack_message.tmpl"
		c.Alert.Slack.SigningSecret = apptest.SigningSecret
		c.OnCall.AWSIncidentManager.Endpoint = aws.URL
	}, func(o *app.Options) { o.Now = clock.Now })
	return ts, aws
}

// versusAlert is the custom JSON of the reference document's test scenarios.
func versusAlert(what string) string {
	return `{"Logs": "[CRITICAL] ` + what + `", "ServiceName": "test-service", "Severity": "critical"}`
}

// advance moves the clock and lets the worker run what became due.
func advance(ts *apptest.Server, clock *storetest.Clock, d time.Duration) {
	clock.Add(d)
	ts.App.Wake()
}

func TestVersusScenarioCriticalOnly(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, aws := versusServer(t, storetest.SQLiteURL(t), clock)
	plan := "arn:aws:ssm-incidents::123456789012:response-plan/PlatformCriticalPlan"
	appPlan := "arn:aws:ssm-incidents::123456789012:response-plan/AppCriticalPlan"

	// 1. No oncall_enable: notified on Slack, never paged.
	status, body := ts.Post(t, "/api/incidents", apptest.IngestToken, versusAlert("This is a critical alert that should not trigger on-call"))
	if status != http.StatusCreated || body["status"] != "Incident created" {
		t.Fatalf("scenario 1: %d %v", status, body)
	}
	quiet := apptest.FirstID(t, body)
	apptest.Eventually(t, "slack message", func() bool { p, _ := ts.Slack.Counts(); return p == 1 })
	first := ts.Slack.Posts()[0].Get("attachments") + ts.Slack.Posts()[0].Get("blocks") + ts.Slack.Posts()[0].Get("text")
	if !strings.Contains(first, "CRITICAL alert from test-service") || !strings.Contains(first, "This is a critical alert that should not trigger on-call") {
		t.Fatalf("the Versus template did not render: %s", first)
	}

	// 2. oncall_enable=true: paged after the wait unless acknowledged.
	_, body = ts.Post(t, "/api/incidents?oncall_enable=true", apptest.IngestToken, versusAlert("This is a critical alert that SHOULD trigger on-call"))
	paged := apptest.FirstID(t, body)
	// 2b. The same, acknowledged in time through its ack link: never paged.
	_, body = ts.Post(t, "/api/incidents?oncall_enable=true", apptest.IngestToken, versusAlert("Critical, but someone is on it"))
	acked := apptest.FirstID(t, body)
	apptest.Eventually(t, "slack messages", func() bool { p, _ := ts.Slack.Counts(); return p == 3 })
	withButton := ts.Slack.Posts()[1].Get("attachments") + ts.Slack.Posts()[1].Get("blocks")
	if !strings.Contains(withButton, "tocsin_ack") || !strings.Contains(withButton, "/api/ack/") {
		t.Fatalf("on-call message lacks the acknowledgement button: %s", withButton)
	}
	advance(ts, clock, time.Minute)
	link := ackLink(t, ts, acked)
	if resp, err := http.PostForm(link, url.Values{"name": {"carol"}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ack %s: %v %v", link, resp, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(aws.Starts()); n != 0 {
		t.Fatalf("paged before the wait: %d StartIncident calls", n)
	}
	advance(ts, clock, 90*time.Second)
	apptest.Eventually(t, "escalation after the wait", func() bool { return len(aws.Starts()) == 1 })
	start := aws.Starts()[0]
	if start.ResponsePlanArn != plan || !strings.Contains(start.Title, "SHOULD trigger on-call") || start.Impact != 1 {
		t.Fatalf("StartIncident: %+v", start)
	}

	// 3. oncall_wait_minutes=0: paged at once.
	_, body = ts.Post(t, "/api/incidents?oncall_enable=true&oncall_wait_minutes=0", apptest.IngestToken, versusAlert("This is a critical alert that should trigger on-call IMMEDIATELY"))
	immediate := apptest.FirstID(t, body)
	apptest.Eventually(t, "immediate escalation", func() bool { return len(aws.Starts()) == 2 })

	// 4. awsim_other_response_plan: that plan is used.
	_, body = ts.Post(t, "/api/incidents?oncall_enable=true&awsim_other_response_plan=app", apptest.IngestToken, versusAlert("Platform issue requiring specific team"))
	other := apptest.FirstID(t, body)
	advance(ts, clock, 3*time.Minute)
	apptest.Eventually(t, "escalation with the other plan", func() bool { return len(aws.Starts()) == 3 })
	if got := aws.Starts()[2]; got.ResponsePlanArn != appPlan {
		t.Fatalf("scenario 4 plan: %s", got.ResponsePlanArn)
	}
	if n := len(aws.Starts()); n != 3 {
		t.Fatalf("StartIncident calls: %d", n)
	}

	// An unknown plan key is ignored with a warning: the alert is taken and
	// the default plan applies (TestOnCallIgnoresBadWaitAndUnknownTarget).
	if status, body := ts.Post(t, "/api/incidents?oncall_enable=true&awsim_other_response_plan=nope", apptest.IngestToken, versusAlert("x")); status != 201 || !hasWarning(warningsOf(body), "awsim_other_response_plan") {
		t.Fatalf("unknown plan key: %d %v", status, body)
	}

	// Timelines tell the story; the paged incident's provider reference is recorded.
	if !hasEvent(ts.Incident(t, paged), tocsin.EventEscalation, "escalated to aws_incident_manager (arn:aws:ssm-incidents") {
		t.Fatalf("paged timeline: %v", eventsOf(ts.Incident(t, paged)))
	}
	if !hasEvent(ts.Incident(t, acked), tocsin.EventEscalation, "cancelled: acknowledged") {
		t.Fatalf("acked timeline: %v", eventsOf(ts.Incident(t, acked)))
	}
	for _, id := range []string{quiet, acked} {
		if hasEvent(ts.Incident(t, id), tocsin.EventEscalation, "escalated to") {
			t.Fatalf("incident %s was paged", id)
		}
	}
	_ = immediate
	_ = other

	// Resolving in tocsin resolves at AWS.
	if status, _ := ts.Post(t, "/api/v1/incidents/"+paged+"/resolve", apptest.APIToken, ""); status != 200 {
		t.Fatalf("resolve: %d", status)
	}
	apptest.Eventually(t, "UpdateIncidentRecord RESOLVED", func() bool {
		for _, u := range aws.Updates() {
			if u.Arn == start.IncidentRecordArn && u.Status == "RESOLVED" {
				return true
			}
		}
		return false
	})
	apptest.Eventually(t, "resolve on the timeline", func() bool {
		return hasEvent(ts.Incident(t, paged), tocsin.EventEscalation, "Resolved at aws_incident_manager")
	})
}

// ackLink finds the incident's ack link in the Slack messages.
func ackLink(t *testing.T, ts *apptest.Server, incidentID string) string {
	t.Helper()
	for _, p := range ts.Slack.Posts() {
		s := strings.ReplaceAll(p.Get("attachments")+p.Get("blocks"), `\u0026`, "&")
		if i := strings.Index(s, "/api/ack/"+incidentID+"?"); i >= 0 {
			j := strings.LastIndex(s[:i], "http")
			end := i + strings.IndexAny(s[i:], `"\ `)
			return s[j:end]
		}
	}
	t.Fatalf("no ack link for %s in Slack messages", incidentID)
	return ""
}

func hasEvent(inc *tocsin.Incident, kind, contains string) bool {
	for _, e := range inc.Timeline {
		if e.Kind == kind && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}

func eventsOf(inc *tocsin.Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind+": "+e.Message)
	}
	return out
}

func TestVersusQueryParameters(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Ingest.AllowedDestinations = map[string][]string{"email_to": {"*@example.com"}, "slack_channel_id": {"*"}}
	})
	cases := []struct {
		query, token string
		status       int
	}{
		{"slack_channel_id=C0OTHER", apptest.IngestToken, 201},
		{"email_to=ops@example.com&email_subject=" + url.QueryEscape("Disk\r\nBcc: evil@attacker.test"), apptest.IngestToken, 201},
		// What cannot be honoured is ignored with a warning, never refused
		// (TestIntakeAcceptsAlertsWhateverTheParameters checks the warnings).
		{"email_to=evil@attacker.test", apptest.IngestToken, 201},
		{"telegram_chat_id=123", apptest.IngestToken, 201}, // telegram is not enabled
		{"oncall_enable=true", apptest.IngestToken, 201},   // on-call is not configured
		{"oncall_enable=maybe", apptest.IngestToken, 201},
		{"msteams_other_power_url=x", apptest.IngestToken, 201},
		{"colour=red", apptest.IngestToken, 201},
	}
	for i, c := range cases {
		status, body := ts.Post(t, "/api/incidents?"+c.query, c.token, `{"title":"param test `+strconv.Itoa(i)+`"}`)
		if status != c.status {
			t.Errorf("%s: %d %v; want %d", c.query, status, body, c.status)
		}
	}
	// The destination override reached Slack; the subject could not inject a header.
	apptest.Eventually(t, "slack post to the other channel", func() bool {
		for _, p := range ts.Slack.Posts() {
			if p.Get("channel") == "C0OTHER" {
				return true
			}
		}
		return false
	})
	apptest.Eventually(t, "mails", func() bool { return ts.Mail.Count() >= 2 })
	for i := 0; i < ts.Mail.Count(); i++ {
		if m := ts.Mail.Message(i); strings.Contains(m, "\nBcc:") || strings.Contains(m, "\r\nBcc:") {
			t.Fatalf("header injected:\n%s", m)
		}
	}
}

func TestVersusOpenIntakeStillGuardsDestinations(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Ingest.Open = true
		c.Ingest.AllowedDestinations = map[string][]string{"email_to": {"*@example.com"}}
	})
	if status, _ := ts.Post(t, "/api/incidents", "", `{"title":"open intake"}`); status != 201 {
		t.Fatalf("open intake: %d", status)
	}
	// An anonymous override is ignored: the alert goes to the configured recipients.
	if status, body := ts.Post(t, "/api/incidents?email_to=someone@example.com", "", `{"title":"relay?"}`); status != 201 || !hasWarning(warningsOf(body), "email_to") {
		t.Fatalf("anonymous email_to: %d %v", status, body)
	}
	if status, _ := ts.Post(t, "/api/incidents?email_to=someone@example.com", apptest.IngestToken, `{"title":"relay with token"}`); status != 201 {
		t.Fatalf("email_to with token: %d", status)
	}
	apptest.Eventually(t, "three mails", func() bool { return ts.Mail.Count() == 3 })
	relayed := 0
	for i := 0; i < 3; i++ {
		if strings.Contains(ts.Mail.Message(i), "someone@example.com") {
			relayed++
		}
	}
	if relayed != 1 {
		t.Fatalf("%d mails to someone@example.com, want only the authenticated one", relayed)
	}
}

// TestVersusEscalationSurvivesKill9 arms an escalation, kills the server
// with SIGKILL during the wait, restarts it, and checks the escalation
// happens exactly once.
func TestVersusEscalationSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	aws := integrationtest.NewAWS(t)
	aws.SetEnv(t)
	dir := t.TempDir()
	cfgPath := dir + "/config.yaml"
	cfg := `data_dir: ` + dir + `
database: sqlite://` + dir + `/tocsin.db
log: {level: warn}
ingest: {tokens: [` + apptest.IngestToken + `]}
api: {tokens: [` + apptest.APIToken + `]}
oncall:
  initialized_only: true
  wait_minutes: 0.05   # 3 seconds
  provider: aws_incident_manager
  aws_incident_manager:
    response_plan_arn: "arn:aws:ssm-incidents::123456789012:response-plan/PlatformCriticalPlan"
    endpoint: ` + aws.URL + `
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	addr := freeAddr(t)
	p := startProcess(t, bin, cfgPath, addr)
	req, _ := http.NewRequest("POST", p.url+"/api/incidents?oncall_enable=true", strings.NewReader(versusAlert("kill me")))
	req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("alert: %v %v", resp, err)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if n := len(aws.Starts()); n != 0 {
		t.Fatalf("escalated before the wait: %d", n)
	}
	startProcess(t, bin, cfgPath, addr)
	apptest.Eventually(t, "escalation after restart", func() bool { return len(aws.Starts()) == 1 })
	time.Sleep(2 * time.Second)
	if n := len(aws.Starts()); n != 1 {
		t.Fatalf("escalated %d times", n)
	}
}

// TestVersusTwoInstancesEscalateOnce runs two servers on one PostgreSQL
// database: every escalation happens exactly once.
func TestVersusTwoInstancesEscalateOnce(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	aws := integrationtest.NewAWS(t)
	aws.SetEnv(t)
	mod := func(c *config.Config) {
		c.OnCall = config.OnCall{Enable: true, Provider: "aws_incident_manager", AWSIncidentManager: config.AWSIncidentManager{
			ResponsePlanARN: "arn:aws:ssm-incidents::123456789012:response-plan/PlatformCriticalPlan", Endpoint: aws.URL}}
		zero := 0.0
		c.OnCall.WaitMinutes = &zero
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
	}
	a := apptest.Start(t, dbURL, mod)
	b := apptest.Start(t, dbURL, mod)
	const n = 40
	for i := 0; i < n; i++ {
		ts := a
		if i%2 == 1 {
			ts = b
		}
		if status, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"two instances `+strconv.Itoa(i)+`"}`); status != 201 {
			t.Fatalf("alert %d: %d %v", i, status, body)
		}
	}
	apptest.Eventually(t, "escalations", func() bool { return len(aws.Starts()) >= n })
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, s := range aws.Starts() {
		seen[s.ClientToken]++
	}
	if len(aws.Starts()) != n || len(seen) != n {
		t.Fatalf("%d StartIncident calls for %d incidents (%d distinct)", len(aws.Starts()), n, len(seen))
	}
}
