package notify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
	"tocsin/notify/notifytest"
)

func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.tmpl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func render(t *testing.T, src string, msg *notify.Message) string {
	t.Helper()
	tmpl, err := notify.ParseTemplate("test", src, false)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	out, err := tmpl.Execute(msg)
	if err != nil {
		t.Fatalf("execute %q: %v", src, err)
	}
	return out
}

// A Versus user's template, as in Versus's Alertmanager guide, renders
// against an Alertmanager payload, with the ack link.
func TestVersusUserTemplate(t *testing.T) {
	path := writeTemplate(t, `🔥 *{{ .commonLabels.severity | upper }} Alert: {{ .commonLabels.alertname }}*
🌐 *Instance*: `+"`{{ .commonLabels.instance }}`"+`
🚨 *Status*: {{ .status }}
{{ range .alerts }}
📝 {{ .annotations.description }}
⏰ *Firing since*: {{ .startsAt | formatTime }}
{{ end }}
{{ if .AckURL }}<{{ .AckURL }}|Acknowledge>{{ end }}`)
	tmpl, err := notify.NewTemplate("slack.tmpl", path, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := notifytest.SampleMessage(notify.EventOpened)
	out, err := tmpl.Execute(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"*CRITICAL Alert: PostgresqlDown*",
		"`pg-prod-01`",
		"*Status*: firing",
		"📝 Postgresql instance is down.",
		"*Firing since*: 2026-03-01 12:34:56",
		"<" + msg.AckURL + "|Acknowledge>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The file is read once, at construction.
func TestNewTemplateReadsFileOnce(t *testing.T) {
	path := writeTemplate(t, "first {{ .Event }}")
	tmpl, err := notify.NewTemplate("text.tmpl", path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(&notify.Message{Event: "opened"})
	if err != nil || out != "first opened" {
		t.Fatalf("got %q, %v", out, err)
	}
	if _, err := notify.NewTemplate("text.tmpl", filepath.Join(t.TempDir(), "missing"), false); err == nil {
		t.Fatal("missing file: want error")
	}
	if _, err := notify.NewTemplate("nope.tmpl", "", false); err == nil {
		t.Fatal("unknown default: want error")
	}
}

func TestNoEnvironmentAccess(t *testing.T) {
	t.Setenv("TOCSIN_TEST_SECRET", "hunter2")
	for _, html := range []bool{false, true} {
		tmpl, err := notify.ParseTemplate("env", `[{{ env "TOCSIN_TEST_SECRET" }}]`, html)
		if err != nil {
			t.Fatalf("env must stay parseable for Versus templates: %v", err)
		}
		if out, err := tmpl.Execute(&notify.Message{}); err != nil || out != "[]" {
			t.Errorf("html=%v: env rendered %q, %v; want empty", html, out, err)
		}
		for _, src := range []string{
			`{{ expandenv "$TOCSIN_TEST_SECRET" }}`,
			`{{ getHostByName "localhost" }}`,
		} {
			if _, err := notify.ParseTemplate("x", src, html); err == nil {
				t.Errorf("html=%v: %s parsed; want an undefined-function error", html, src)
			}
		}
	}
}

// The default templates always carry the ack link when there is one, for
// every source and event, with event-specific wording.
func TestDefaultTemplatesShowAckURL(t *testing.T) {
	defaults := []struct {
		name string
		html bool
	}{{"slack.tmpl", false}, {"text.tmpl", false}, {"email.txt", false}, {"email.html", true}}
	wording := map[string]string{
		notify.EventOpened:       "Incident opened",
		notify.EventRenotify:     "Still unacknowledged",
		notify.EventAcknowledged: "Acknowledged by alice via slack",
		notify.EventResolved:     "Resolved by bob via api",
	}
	payloads := map[string]string{
		"alertmanager": notifytest.SampleAlertmanagerPayload,
		"grafana":      `{"receiver":"x","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"CPU"},"dashboardURL":"http://g"}]}`,
		"cloudwatch":   `{"AlarmName":"cpu-high","NewStateValue":"ALARM","AlarmArn":"arn:aws:cloudwatch:eu-west-1:1:alarm:cpu-high"}`,
		"array":        `[1,2,3]`,
		"none":         ``,
	}
	const ack = "https://tocsin.example.com/ack/inc_01?exp=1&sig=a%2Bb"
	for _, d := range defaults {
		tmpl, err := notify.NewTemplate(d.name, "", d.html)
		if err != nil {
			t.Fatal(err)
		}
		for event, words := range wording {
			for source, payload := range payloads {
				msg := notifytest.SampleMessage(event)
				msg.Payload = json.RawMessage(payload)
				msg.AckURL = ack
				out, err := tmpl.Execute(msg)
				if err != nil {
					t.Fatalf("%s/%s/%s: %v", d.name, event, source, err)
				}
				wantAck := ack
				if d.html {
					wantAck = `href="https://tocsin.example.com/ack/inc_01?exp=1&amp;sig=a%2Bb"`
				}
				if !strings.Contains(out, wantAck) {
					t.Errorf("%s/%s/%s: no ack link %s in:\n%s", d.name, event, source, wantAck, out)
				}
				if !strings.Contains(out, words) {
					t.Errorf("%s/%s/%s: lacks %q:\n%s", d.name, event, source, words, out)
				}
			}
			// Without an ack URL there is no ack prompt.
			msg := notifytest.SampleMessage(event)
			msg.AckURL = ""
			out, err := tmpl.Execute(msg)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.ToLower(out), "acknowledge this") || strings.Contains(out, "/ack/") {
				t.Errorf("%s/%s: ack prompt without AckURL:\n%s", d.name, event, out)
			}
		}
	}
}

// Default templates cope with incidents opened by hand: no alert, no payload.
func TestDefaultTemplatesWithoutAlert(t *testing.T) {
	for _, name := range []string{"slack.tmpl", "text.tmpl", "email.txt", "email.html", "email_subject.tmpl"} {
		tmpl, err := notify.NewTemplate(name, "", name == "email.html")
		if err != nil {
			t.Fatal(err)
		}
		msg := &notify.Message{
			Event:    notify.EventOpened,
			Incident: &tocsin.Incident{ID: "i", Title: "Checkout <slow> & failing", Summary: "Customers see errors.", Impact: 2, Status: "triggered"},
		}
		out, err := tmpl.Execute(msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name != "email_subject.tmpl" && !strings.Contains(out, "Customers see errors.") {
			t.Errorf("%s: summary missing:\n%s", name, out)
		}
		switch name {
		case "slack.tmpl":
			if !strings.Contains(out, "Checkout &lt;slow&gt; &amp; failing") {
				t.Errorf("slack: title not escaped for mrkdwn:\n%s", out)
			}
		case "email.html":
			if strings.Contains(out, "<slow>") {
				t.Errorf("html: title not escaped:\n%s", out)
			}
		case "email_subject.tmpl":
			if out != "[Incident] Checkout <slow> & failing (impact 2, high)" {
				t.Errorf("subject = %q", out)
			}
		}
		if _, err := tmpl.Execute(&notify.Message{Event: notify.EventOpened}); err != nil {
			t.Errorf("%s without incident: %v", name, err)
		}
	}
}

func TestTemplateData(t *testing.T) {
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Payload = json.RawMessage(`{"status":"firing","AckURL":"https://evil.example/","Incident":"spoof","alerts":[{"status":"firing","AckURL":"https://evil.example/"},"x"]}`)
	data := notify.TemplateData(msg)
	if data["status"] != "firing" {
		t.Errorf("payload field missing: %v", data["status"])
	}
	if data["AckURL"] != msg.AckURL || data["Incident"] != msg.Incident || data["Alert"] != msg.Alert || data["Event"] != "opened" || data["IncidentURL"] != msg.IncidentURL {
		t.Errorf("tocsin fields must win over the payload: %v", data)
	}
	alerts := data["alerts"].([]any)
	if a := alerts[0].(map[string]any); a["AckURL"] != msg.AckURL {
		t.Errorf("alerts[0].AckURL = %v", a["AckURL"])
	}
	if alerts[1] != "x" {
		t.Errorf("non-object alert changed: %v", alerts[1])
	}
	if len(data["Alerts"].([]*tocsin.Alert)) != 1 {
		t.Errorf("Alerts = %v", data["Alerts"])
	}
	// The payload itself is not modified.
	if strings.Count(string(msg.Payload), "evil") != 2 {
		t.Error("payload modified")
	}

	// Without a payload, the alert's raw payload is used.
	msg.Payload = nil
	msg.Alert.Raw = json.RawMessage(`{"AlarmName":"cpu"}`)
	if notify.TemplateData(msg)["AlarmName"] != "cpu" {
		t.Error("alert raw payload not used")
	}
	if len(notify.TemplateData(nil)) != 0 {
		t.Error("nil message")
	}
}

// Versus's functions and its lenient builtins work as Versus templates
// expect.
func TestVersusFunctions(t *testing.T) {
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Payload = json.RawMessage(`{"count":3,"ratio":0.5,"list":["a","b"],"when":"2026-03-01T12:34:56Z","nested":{"k":"v"},"log":"line1\nERROR boom"}`)
	tests := []struct{ src, want string }{
		{`{{ eq .count 3 }} {{ eq .count 4 5 3 }} {{ ne .count 3 }} {{ eq .missing "x" }}`, "true true false false"},
		{`{{ gt .count 2 }} {{ lt .ratio 1 }} {{ ge .count 3 }} {{ le .count 2 }} {{ gt .missing 1 }}`, "true true true false false"},
		{`{{ len .list }} {{ len .missing }} {{ len "abc" }}`, "2 0 3"},
		{`{{ index .nested "k" }}|{{ index .missing "k" }}|{{ index .list 1 }}|{{ index .list 9 }}`, "v|<no value>|b|<no value>"},
		{`{{ join .list ", " }}|{{ join ", " .list }}|{{ join (stringSlice .list) "-" }}`, "a, b|a, b|a-b"},
		{`{{ replaceAll "a.b.c" "." "/" }} {{ escapeHTML "<b>&" }} {{ truncate "héllo" 2 }}`, "a/b/c &lt;b&gt;&amp; hé"},
		{`{{ formatTime .when }} {{ formatTime "nope" }} {{ format "2006" .when }} {{ formatTime .Incident.CreatedAt }}`, "2026-03-01 12:34:56 Invalid time 2026 2026-03-01 12:35:00"},
		{`{{ $d := dict "a" 1 }}{{ $d = $d.Set "b" 2 }}{{ $d.b }} {{ hasKey $d "a" }}`, "2 true"},
		{`{{ regexMatch "(?i)error" .log }} {{ toString .count }} {{ .nested.k | upper }}`, "true 3 V"},
		{`{{ define "x" }}[{{ .Event }}]{{ end }}{{ include "x" . }}`, "[opened]"},
		{`{{ impactName .Incident.Impact }} {{ mrkdwn "a<b" }} {{ mrkdwnLink "http://x/?a=1|2" "t|x" }}`, "critical a&lt;b <http://x/?a=1%7C2|t¦x>"},
	}
	for _, tt := range tests {
		if got := render(t, tt.src, msg); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestTemplateLimits(t *testing.T) {
	tmpl, err := notify.ParseTemplate("loop", `{{ define "x" }}{{ include "x" . }}{{ end }}{{ include "x" . }}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Execute(&notify.Message{}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("self-include: %v", err)
	}
	tmpl, err = notify.ParseTemplate("big", `{{ range until 300000 }}0123456789{{ end }}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Execute(&notify.Message{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("huge output: %v", err)
	}
}

func TestHTMLTemplateEscapes(t *testing.T) {
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Incident.Title = `<script>alert(1)</script>`
	tmpl, err := notify.NewTemplate("email.html", "", true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(msg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "<script>") || !strings.Contains(out, "&lt;script&gt;") {
		t.Errorf("title not escaped:\n%s", out)
	}
}

// Any payload renders through every default template without panicking.
func FuzzTemplateData(f *testing.F) {
	f.Add([]byte(notifytest.SampleAlertmanagerPayload))
	f.Add([]byte(`{"alerts":[1,{"AckURL":2}],"AckURL":{"x":1}}`))
	f.Add([]byte(`[]`))
	var tmpls []*notify.Template
	// The subject, last, carries no link.
	for _, name := range []string{"slack.tmpl", "text.tmpl", "email.txt", "email.html", "email_subject.tmpl"} {
		tmpl, err := notify.NewTemplate(name, "", name == "email.html")
		if err != nil {
			f.Fatal(err)
		}
		tmpls = append(tmpls, tmpl)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		msg := notifytest.SampleMessage(notify.EventOpened)
		msg.Payload = payload
		data := notify.TemplateData(msg)
		if data["AckURL"] != msg.AckURL {
			t.Fatalf("AckURL = %v", data["AckURL"])
		}
		for i, tmpl := range tmpls {
			out, err := tmpl.Execute(msg)
			if err != nil || (i < 4 && !strings.Contains(out, "tocsin.example.com/ack/")) {
				t.Fatalf("render: %v\n%s", err, out)
			}
		}
	})
}

// sprig's date functions take payload strings (RFC 3339 with or without
// fractional seconds, and other common forms) and JSON numbers as the times
// they are, not as "now"; what cannot be read is shown as it is.
func TestDateFunctionsParseStrings(t *testing.T) {
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Payload = json.RawMessage(`{"ms":"2026-03-01T12:34:56.789Z","s":"2026-03-01T12:34:56Z","off":"2026-03-01T14:34:56+02:00",
		"space":"2026-03-01 12:34:56","gostr":"2026-03-01 12:34:56.789 +0000 UTC","rfc1123":"Sun, 01 Mar 2026 12:34:56 GMT",
		"unix":1772368496,"unixstr":"1772368496","bad":"soon"}`)
	const layout = "Jan 02, 2006 15:04:05 MST"
	// date and htmlDate print in the server's zone; pin it for the test.
	local := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = local })
	tests := []struct{ src, want string }{
		{`{{ dateInZone "` + layout + `" .ms "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .s "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .off "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ date_in_zone "` + layout + `" .space "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .gostr "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .rfc1123 "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .unix "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ dateInZone "` + layout + `" .unixstr "UTC" }}`, "Mar 01, 2026 12:34:56 UTC"},
		{`{{ htmlDateInZone .ms "UTC" }} {{ dateInZone "15:04" .ms "Asia/Tokyo" }}`, "2026-03-01 21:34"},
		{`{{ .s | date "2006" }}|{{ .bad | date "2006" }}|{{ .missing | date "2006" }}`, "2026|soon|"},
		{`{{ .s | unixEpoch }} {{ .s | dateModify "1h" | date "15:04" }}`, "1772368496 13:34"},
		{`{{ formatTime .gostr }} {{ format "15:04" .rfc1123 }}`, "2026-03-01 12:34:56 12:34"},
	}
	for _, tt := range tests {
		if got := render(t, tt.src, msg); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
	// The seed's Slack template, as Versus users write it, against an
	// Alertmanager payload.
	am := notifytest.SampleMessage(notify.EventOpened)
	if got, want := render(t, `{{ (index .alerts 0).startsAt | date "Jan 02, 2006 15:04:05 MST" }}`, am), "Mar 01, 2026 12:34:56 UTC"; got != want {
		t.Errorf("Detected: got %q, want %q", got, want)
	}
	// ago measures from the string's time, not from now.
	if got := render(t, `{{ ago "2001-01-01T00:00:00Z" }}`, msg); !strings.HasPrefix(got, "2") || len(got) < 6 {
		t.Errorf("ago of 2001 = %q, want a duration of about 25 years", got)
	}
}
