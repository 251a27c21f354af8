package notify

import (
	"strings"
	"testing"

	"tocsin"
)

// A notice (a hand-off, an activation code) renders as its text, never as
// an incident, in every default template a contact channel uses.
func TestDefaultTemplatesRenderANoticeAsItsText(t *testing.T) {
	msg := &Message{Event: EventNotice, Incident: &tocsin.Incident{Title: "tocsin: you are now on call for platform", Impact: tocsin.ImpactNone, Status: tocsin.StatusResolved}}
	for _, name := range []string{"email.txt", "email.html", "email_subject.tmpl", "slack.tmpl", "telegram.tmpl", "text.tmpl"} {
		tmpl, err := NewTemplate(name, "", strings.HasSuffix(name, ".html"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := tmpl.Execute(msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(out, "you are now on call for platform") {
			t.Errorf("%s: the notice's text is missing: %q", name, out)
		}
		for _, bad := range []string{"Incident", "Impact", "impact", "Status"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s: a notice reads as an incident (%q): %q", name, bad, out)
			}
		}
	}
	// Incidents render as before.
	tmpl, _ := NewTemplate("text.tmpl", "", false)
	if out, _ := tmpl.Execute(&Message{Event: EventOpened, Incident: &tocsin.Incident{Title: "db down", Impact: 1}}); !strings.Contains(out, "Incident opened: db down") {
		t.Errorf("an incident: %q", out)
	}
}
