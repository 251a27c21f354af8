package notify_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"tocsin/notify"
	"tocsin/notify/notifytest"
)

// longMessage is the sample message with a description of n characters.
func longMessage(n int) *notify.Message {
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Description = strings.Repeat("disk <full> & ", n/14+1)[:n]
	return msg
}

// A built-in template that would overflow is rendered again with a shorter
// description: title, status and the ack link stay whole.
func TestRenderShortensTheDescriptionOfBuiltinTemplates(t *testing.T) {
	for _, name := range []string{"text.tmpl", "slack.tmpl", "telegram.tmpl", "msteams.md", "lark.md"} {
		tmpl, err := notify.NewTemplate(name, "", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, max := range []int{3000, 4096, 7000} {
			msg := longMessage(5200 * 2)
			out, err := tmpl.Render(msg, notify.Limit{Max: max})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if n := utf8.RuneCountInString(out); n > max {
				t.Errorf("%s/%d: %d characters", name, max, n)
			}
			for _, want := range []string{"sig=abc123", "disk ", "…"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s/%d: lacks %q:\n%s", name, max, want, out)
				}
			}
			if name != "msteams.md" && name != "lark.md" { // their title and status are in the card
				for _, want := range []string{msg.Incident.Title, "triggered"} {
					if !strings.Contains(out, want) {
						t.Errorf("%s/%d: lacks %q", name, max, want)
					}
				}
			}
			if msg.Alert.Description != longMessage(5200*2).Alert.Description {
				t.Fatalf("%s: Render changed the caller's message", name)
			}
			// Not shortened more than needed: the cut leaves little unused.
			if n := utf8.RuneCountInString(out); n < max-200 {
				t.Errorf("%s/%d: only %d characters used", name, max, n)
			}
		}
	}
}

// The length is measured in the channel's unit.
func TestRenderMeasuresInTheChannelsUnit(t *testing.T) {
	tmpl, err := notify.NewTemplate("text.tmpl", "", false)
	if err != nil {
		t.Fatal(err)
	}
	msg := longMessage(100)
	msg.Alert.Description = strings.Repeat("é", 8000) // two bytes each
	bytes := func(s string) int { return len(s) }
	out, err := tmpl.Render(msg, notify.Limit{Max: 6000, Len: bytes})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 6000 || !strings.Contains(out, msg.AckURL) {
		t.Errorf("%d bytes, ack link kept %v", len(out), strings.Contains(out, msg.AckURL))
	}
}

// A user template that overflows is cut, and the ack link it showed is
// appended again in the channel's form.
func TestRenderCutsUserTemplatesAndKeepsTheLink(t *testing.T) {
	path := writeTemplate(t, `{{ .Alert.Description }}
Ack: {{ .AckURL }}`)
	tmpl, err := notify.NewTemplate("text.tmpl", path, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := longMessage(5200)
	lim := notify.Limit{Max: 4096, Link: func(url string) string { return "\n[ack](" + url + ")" }}
	out, err := tmpl.Render(msg, lim)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(out); n > 4096 {
		t.Errorf("%d characters", n)
	}
	if !strings.HasSuffix(out, "…\n[ack]("+msg.AckURL+")") {
		t.Errorf("link not re-appended after the cut: %q", out[len(out)-100:])
	}

	// A template without the link gets none; one that fits is unchanged.
	path = writeTemplate(t, `{{ .Alert.Description }}`)
	if tmpl, err = notify.NewTemplate("text.tmpl", path, false); err != nil {
		t.Fatal(err)
	}
	if out, _ = tmpl.Render(msg, lim); strings.Contains(out, "/ack/") || utf8.RuneCountInString(out) != 4096 {
		t.Errorf("without link: %d characters, %q", utf8.RuneCountInString(out), out[len(out)-40:])
	}
	if out, _ = tmpl.Render(longMessage(100), lim); out != longMessage(100).Alert.Description {
		t.Errorf("short text changed: %q", out)
	}
}

// A user template that fails while rendering is replaced by the built-in
// template for that message, and the failure is noted on the message for
// the dispatcher.
func TestUserTemplateFailureFallsBackToBuiltin(t *testing.T) {
	path := writeTemplate(t, `{{ .Incident.Title | replace 1 2 3 }}`)
	tmpl, err := notify.NewTemplate("text.tmpl", path, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := notifytest.SampleMessage(notify.EventOpened)
	out, err := tmpl.Execute(msg)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if !strings.Contains(out, "Incident opened: "+msg.Incident.Title) || !strings.Contains(out, msg.AckURL) {
		t.Errorf("not the built-in text:\n%s", out)
	}
	if len(msg.Warnings) != 1 || !strings.Contains(msg.Warnings[0], "user.tmpl") || !strings.Contains(msg.Warnings[0], "built-in") {
		t.Errorf("Warnings = %q", msg.Warnings)
	}
	// Through Render too, once per message.
	msg = longMessage(9000)
	if out, err = tmpl.Render(msg, notify.Limit{Max: 4096}); err != nil || !strings.Contains(out, msg.AckURL) || len(msg.Warnings) != 1 {
		t.Errorf("Render: err %v, warnings %q, link kept %v", err, msg.Warnings, strings.Contains(out, msg.AckURL))
	}

	// A template parsed from configuration falls back to its default.
	subj, err := notify.ParseTemplateWithDefault("email_subject.tmpl", "subject", `{{ .nope.x | upper | replace 1 }}`, false)
	if err != nil {
		t.Fatal(err)
	}
	msg = notifytest.SampleMessage(notify.EventOpened)
	if out, err := subj.Execute(msg); err != nil || !strings.HasPrefix(out, "[Incident] ") || len(msg.Warnings) != 1 {
		t.Errorf("subject: %q, %v, %q", out, err, msg.Warnings)
	}

	// Built-in and plain parsed templates still report their errors.
	plain, _ := notify.ParseTemplate("plain", `{{ .Incident.Title | replace 1 2 3 }}`, false)
	if _, err := plain.Execute(notifytest.SampleMessage(notify.EventOpened)); err == nil {
		t.Error("ParseTemplate without default: no error")
	}
}

// CheckTemplate renders a template against every source's sample payload
// and names the one it fails for.
func TestCheckTemplate(t *testing.T) {
	// Only CloudWatch alarms have a Trigger, whose Dimensions are a list.
	path := writeTemplate(t, `{{ .Incident.Title }}{{ with .Trigger }} {{ upper .Dimensions }}{{ end }} {{ .AckURL }}`)
	err := notify.CheckTemplate("telegram", path)
	if err == nil {
		t.Fatal("CheckTemplate passed a template that fails for CloudWatch alarms")
	}
	msg := err.Error()
	for _, want := range []string{"template user.tmpl fails for a cloudwatch payload (opened, renotify, acknowledged, resolved)", "wrong type for value"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	for _, other := range []string{"alertmanager", "grafana", "sentry", "pagerduty", "generic", "versus"} {
		if strings.Contains(msg, other) {
			t.Errorf("error names %s, for which the template works: %s", other, msg)
		}
	}
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("want one line for one source: %s", msg)
	}

	// Every source's sample is decoded and the built-in templates pass.
	samples, err := notify.SampleMessages()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range samples {
		seen[s.Source] = true
		if s.Message.Alert == nil || len(s.Message.Payload) == 0 {
			t.Errorf("%s sample has no alert or payload", s.Source)
		}
	}
	if len(seen) != 7 {
		t.Errorf("sources = %v", seen)
	}
	for _, d := range []struct {
		name string
		html bool
	}{{"slack.tmpl", false}, {"telegram.tmpl", false}, {"text.tmpl", false}, {"msteams.md", false}, {"lark.md", false}, {"email.html", true}, {"email.txt", false}, {"email_subject.tmpl", false}} {
		tmpl, err := notify.NewTemplate(d.name, "", d.html)
		if err != nil {
			t.Fatal(err)
		}
		if err := tmpl.Check(); err != nil {
			t.Errorf("built-in %s: %v", d.name, err)
		}
	}

	// Parse errors and unknown channels are reported too.
	if err := notify.CheckTemplate("slack", writeTemplate(t, `{{ .x `)); err == nil || !strings.Contains(err.Error(), "parse template user.tmpl") {
		t.Errorf("parse error: %v", err)
	}
	if err := notify.CheckTemplate("webhook", path); err == nil {
		t.Error("webhook has no template, but CheckTemplate accepted it")
	}
	if err := notify.CheckTemplate("email", writeTemplate(t, `<p>{{ .Incident.Title }}</p>`)); err != nil {
		t.Errorf("valid HTML email template: %v", err)
	}
}
