package response

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tocsin"
)

// TestRoutedOpen checks how a routed plan shapes the incident an alert
// opens: the chat channels (besides or instead of the default
// destination), the engagements after their delays, and that
// notify-only and a paging-policy refusal page nobody, on the timeline.
func TestRoutedOpen(t *testing.T) {
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	policy := &tocsin.Policy{Channels: []string{"slack", "webhook"}, Impacts: tocsin.DefaultImpacts()}
	plan := &tocsin.ResponsePlan{Name: "P", IncidentTemplate: tocsin.IncidentTemplate{Title: "t"},
		Engagements:  []tocsin.ResponseEngagement{{EscalationPlan: "esc", Delay: tocsin.Duration(2 * time.Minute)}, {Contact: "alice"}},
		ChatChannels: []tocsin.ChatChannel{{Channel: "slack", Destination: "C1"}}}
	replacing := *plan
	replacing.ChatChannels = []tocsin.ChatChannel{{Channel: "slack", Destination: "C2", ReplaceDefaults: true}}
	oncall := &tocsin.OnCallOptions{Provider: tocsin.OnCallTocsin}
	for _, c := range []struct {
		name       string
		routed     *Routed
		slack      []string // the slack jobs' channel_id destinations ("" the default)
		engages    []time.Duration
		escalate   bool
		refusedMsg string
	}{
		{"besides the default", &Routed{Rule: "r", Plans: []*tocsin.ResponsePlan{plan}, Fields: IncidentFields{Plan: "P", Title: "t", Impact: 2}, MayPage: true},
			[]string{"", "C1"}, []time.Duration{2 * time.Minute, 0}, false, ""},
		{"instead of the default", &Routed{Rule: "r", Plans: []*tocsin.ResponsePlan{&replacing}, Fields: IncidentFields{Plan: "P", Title: "t", Impact: 2}, MayPage: true},
			[]string{"C2"}, []time.Duration{2 * time.Minute, 0}, false, ""},
		{"refused by the paging policy", &Routed{Rule: "r", Plans: []*tocsin.ResponsePlan{plan}, Fields: IncidentFields{Plan: "P", Title: "t", Impact: 4}, PageWhy: "impact 4"},
			[]string{"", "C1"}, nil, false, "Paging refused: impact 4"},
		{"notify only", &Routed{Rule: "quiet", NotifyOnly: true},
			[]string{""}, nil, false, "Notify only (rule quiet)"},
		{"a plan without engagements keeps the on-call timer", &Routed{Rule: "r", Plans: []*tocsin.ResponsePlan{{Name: "Q"}}, Fields: IncidentFields{Plan: "Q", Title: "t", Impact: 2}, MayPage: true},
			[]string{""}, nil, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			eff := Ingest(Input{Alert: &tocsin.Alert{Title: "a", Severity: "critical"}, Policy: policy, Routed: c.routed,
				Options: tocsin.IngestOptions{OnCall: oncall}, NewIncidentID: "i1", NewAlertID: "a1", Now: now})
			var slack []string
			var engages []time.Duration
			escalate := false
			for _, j := range eff.Jobs {
				switch j.Kind {
				case tocsin.JobNotify:
					var a tocsin.NotifyArgs
					_ = json.Unmarshal(j.Args, &a)
					if a.Channel == "slack" {
						slack = append(slack, a.Destination["channel_id"])
					}
				case tocsin.JobEngage:
					engages = append(engages, j.DueAt.Sub(now))
				case tocsin.JobEscalate:
					escalate = true
				}
			}
			if strings.Join(slack, ",") != strings.Join(c.slack, ",") || len(engages) != len(c.engages) || escalate != c.escalate {
				t.Fatalf("slack %q engages %v escalate %v; want %q %v %v", slack, engages, escalate, c.slack, c.engages, c.escalate)
			}
			for i := range engages {
				if engages[i] != c.engages[i] {
					t.Fatalf("engagement %d due after %s, want %s", i, engages[i], c.engages[i])
				}
			}
			refused := ""
			for _, e := range eff.Events {
				if e.Kind == tocsin.EventPagingRefused {
					refused = e.Message
				}
			}
			if (c.refusedMsg == "") != (refused == "") || !strings.Contains(refused, c.refusedMsg) {
				t.Fatalf("refusal on the timeline: %q, want %q", refused, c.refusedMsg)
			}
		})
	}
}

// TestRoutedRunbook checks that an incident opened from a plan with a
// runbook asks for it to start (the first plan's, which shapes the
// incident), by intake and by hand, and that a joining alert does not.
func TestRoutedRunbook(t *testing.T) {
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	policy := &tocsin.Policy{Impacts: tocsin.DefaultImpacts()}
	ref := &tocsin.RunbookRef{Name: "ec2-book", Parameters: map[string][]string{"Count": {"2"}}}
	with := &tocsin.ResponsePlan{Name: "P", IncidentTemplate: tocsin.IncidentTemplate{Title: "t"}, Runbook: ref}
	without := &tocsin.ResponsePlan{Name: "Q", IncidentTemplate: tocsin.IncidentTemplate{Title: "t"}}
	routed := func(plans ...*tocsin.ResponsePlan) *Routed {
		return &Routed{Rule: "r", Plans: plans, Fields: IncidentFields{Plan: plans[0].Name, Title: "t", Impact: 2}, MayPage: true}
	}
	alert := &tocsin.Alert{Title: "a", Severity: "critical"}
	for _, c := range []struct {
		name string
		eff  Effects
		want *tocsin.RunbookRef
	}{
		{"intake", Ingest(Input{Alert: alert, Policy: policy, Routed: routed(with), NewIncidentID: "i1", NewAlertID: "a1", Now: now}), ref},
		{"only the first plan's", Ingest(Input{Alert: alert, Policy: policy, Routed: routed(without, with), NewIncidentID: "i1", NewAlertID: "a1", Now: now}), nil},
		{"not routed", Ingest(Input{Alert: alert, Policy: policy, NewIncidentID: "i1", NewAlertID: "a1", Now: now}), nil},
		{"a joining alert", Ingest(Input{Alert: alert, Policy: policy, Routed: routed(with), NewAlertID: "a2", Now: now,
			Incident: &tocsin.Incident{ID: "i1", Status: tocsin.StatusTriggered, OpenAlertCount: 1}}), nil},
		{"by hand", Start(StartInput{Start: &tocsin.IncidentStart{ResponsePlan: "P"}, Routed: routed(with), NewIncidentID: "i1", Policy: policy, Now: now}), ref},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.eff.Runbook != c.want {
				t.Fatalf("Runbook = %+v, want %+v", c.eff.Runbook, c.want)
			}
		})
	}
}
