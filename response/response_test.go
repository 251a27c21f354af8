package response_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/response"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func policy() *tocsin.Policy {
	return &tocsin.Policy{Channels: []string{"slack", "webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts()}
}

func firing(title, severity string) *tocsin.Alert {
	return &tocsin.Alert{Source: "alertmanager", DedupKey: "k", Fingerprint: "f", Status: tocsin.AlertFiring, Title: title, Severity: severity}
}

func resolved() *tocsin.Alert {
	a := firing("", "")
	a.Status = tocsin.AlertResolved
	return a
}

func pdAck() *tocsin.Alert {
	a := firing("", "")
	a.Annotations = map[string]string{"pagerduty_action": "acknowledge"}
	return a
}

// job is a job as a test reads it: its arguments decoded.
type job struct {
	Kind, Lane, Key, Incident string
	Due                       time.Time
	Args                      map[string]any
}

func jobs(t *testing.T, js []*tocsin.Job) []job {
	t.Helper()
	var out []job
	for _, j := range js {
		var args map[string]any
		if err := json.Unmarshal(j.Args, &args); err != nil {
			t.Fatalf("job %s: args %s: %v", j.Kind, j.Args, err)
		}
		out = append(out, job{j.Kind, j.Lane, j.Key, j.IncidentID, j.DueAt, args})
	}
	return out
}

// events renders timeline events as "kind|actor|message".
func events(es []*tocsin.TimelineEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind+"|"+e.Actor+"|"+e.Message)
	}
	return out
}

func notifies(incident, event, alertID string, dest map[string]map[string]string) []job {
	var out []job
	for _, ch := range []string{"slack", "webhook"} {
		args := map[string]any{"channel": ch, "event": event}
		if alertID != "" {
			args["alert_id"] = alertID
		}
		if d := dest[ch]; d != nil {
			m := map[string]any{}
			for k, v := range d {
				m[k] = v
			}
			args["destination"] = m
		}
		out = append(out, job{tocsin.JobNotify, "notify:" + ch, "", incident, now, args})
	}
	return out
}

func TestIngestOpens(t *testing.T) {
	dest := map[string]map[string]string{"slack": {"channel_id": "C1"}}
	cases := []struct {
		name       string
		opts       tocsin.IngestOptions
		renotify   time.Duration
		wantEvents []string
		wantJobs   []job
	}{{
		name:       "notifies every channel with the request's destinations",
		opts:       tocsin.IngestOptions{Destinations: dest},
		wantEvents: []string{"created|alertmanager|Incident opened: disk full"},
		wantJobs:   notifies("i1", "opened", "a1", dest),
	}, {
		name:       "quiet tells no channel",
		opts:       tocsin.IngestOptions{Quiet: true},
		wantEvents: []string{"created|alertmanager|Incident opened: disk full"},
	}, {
		name:       "arms the reminder with the destinations",
		opts:       tocsin.IngestOptions{Destinations: dest},
		renotify:   10 * time.Minute,
		wantEvents: []string{"created|alertmanager|Incident opened: disk full"},
		wantJobs: append(notifies("i1", "opened", "a1", dest), job{tocsin.JobRenotify, "renotify", "renotify:i1", "i1", now.Add(10 * time.Minute),
			map[string]any{"destinations": map[string]any{"slack": map[string]any{"channel_id": "C1"}}}}),
	}, {
		name:       "quiet arms no reminder",
		opts:       tocsin.IngestOptions{Quiet: true, Destinations: dest},
		renotify:   10 * time.Minute,
		wantEvents: []string{"created|alertmanager|Incident opened: disk full"},
	}, {
		name: "arms on-call after its wait",
		opts: tocsin.IngestOptions{Quiet: true, OnCall: &tocsin.OnCallOptions{Provider: "pagerduty", Target: "db", Wait: 5 * time.Minute}},
		wantEvents: []string{"created|alertmanager|Incident opened: disk full",
			"escalation||On-call armed: escalating to pagerduty in 5m0s unless acknowledged"},
		wantJobs: []job{{tocsin.JobEscalate, "escalate:pagerduty", "escalate:i1", "i1", now.Add(5 * time.Minute),
			map[string]any{"provider": "pagerduty", "target": "db"}}},
	}, {
		name: "on-call with no wait escalates at once",
		opts: tocsin.IngestOptions{Quiet: true, OnCall: &tocsin.OnCallOptions{Provider: "pagerduty"}},
		wantEvents: []string{"created|alertmanager|Incident opened: disk full",
			"escalation||On-call: escalating to pagerduty at once"},
		wantJobs: []job{{tocsin.JobEscalate, "escalate:pagerduty", "escalate:i1", "i1", now, map[string]any{"provider": "pagerduty"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy()
			p.RenotifyAfter = c.renotify
			eff := response.Ingest(response.Input{Alert: firing("disk full", "critical"), Policy: p, Options: c.opts,
				NewIncidentID: "i1", NewAlertID: "a1", Now: now})
			if want := (tocsin.IngestResult{AlertID: "a1", IncidentID: "i1", Created: true}); eff.Result != want {
				t.Errorf("result = %+v, want %+v", eff.Result, want)
			}
			if o := eff.Open; o == nil || o.ID != "i1" || o.Impact != tocsin.ImpactCritical || o.Status != tocsin.StatusTriggered || o.DedupKey != "k" {
				t.Errorf("open = %+v", o)
			}
			if want := (response.AlertWrite{Op: response.AlertInsert, ID: "a1", IncidentID: "i1"}); eff.Alert != want {
				t.Errorf("alert = %+v, want %+v", eff.Alert, want)
			}
			if got := events(eff.Events); !reflect.DeepEqual(got, c.wantEvents) {
				t.Errorf("events = %q, want %q", got, c.wantEvents)
			}
			if got := jobs(t, eff.Jobs); !reflect.DeepEqual(got, c.wantJobs) {
				t.Errorf("jobs = %+v\nwant %+v", got, c.wantJobs)
			}
			if eff.Status != nil || eff.Acknowledge != nil || eff.Resolve != nil || len(eff.Cancel) > 0 {
				t.Errorf("an opened incident changes nothing else: %+v", eff)
			}
		})
	}
}

func TestIngestAttaches(t *testing.T) {
	open := func(status string, openAlerts int) *tocsin.Incident {
		return &tocsin.Incident{ID: "i1", Status: status, Impact: tocsin.ImpactMedium, OpenAlertCount: openAlerts, AlertCount: openAlerts}
	}
	known := func(status string) *tocsin.Alert {
		return &tocsin.Alert{ID: "a0", Status: status, Title: "first title"}
	}
	cases := []struct {
		name        string
		alert       *tocsin.Alert
		incident    *tocsin.Incident
		known       *tocsin.Alert
		autoResolve bool
		wantAlert   string
		wantCount   *response.Count
		wantEvents  []string
		wantAck     bool
		wantResolve bool
	}{{
		name: "a new alert is counted", alert: firing("cpu", "warning"), incident: open(tocsin.StatusTriggered, 1),
		wantAlert: response.AlertInsert, wantCount: &response.Count{Alerts: 1, Open: 1, Impact: tocsin.ImpactMedium},
		wantEvents: []string{"alert_attached|alertmanager|Alert attached: cpu"},
	}, {
		name: "a more severe alert raises the impact", alert: firing("cpu", "critical"), incident: open(tocsin.StatusTriggered, 1),
		wantAlert: response.AlertInsert, wantCount: &response.Count{Alerts: 1, Open: 1, Impact: tocsin.ImpactCritical},
		wantEvents: []string{"alert_attached|alertmanager|Alert attached: cpu", "alert_attached|alertmanager|Impact raised from 3 to 1"},
	}, {
		name: "a repeat of a firing alert adds nothing", alert: firing("new title", "warning"), incident: open(tocsin.StatusTriggered, 1),
		known: known(tocsin.AlertFiring), wantAlert: response.AlertUpdate,
	}, {
		name: "a resolve of the last open alert resolves the incident", alert: resolved(), incident: open(tocsin.StatusAcknowledged, 1),
		known: known(tocsin.AlertFiring), autoResolve: true, wantAlert: response.AlertStatus, wantCount: &response.Count{Open: -1},
		wantEvents: []string{"alert_resolved|alertmanager|Alert resolved: first title"}, wantResolve: true,
	}, {
		name: "without auto-resolve the incident stays open", alert: resolved(), incident: open(tocsin.StatusTriggered, 1),
		known: known(tocsin.AlertFiring), wantAlert: response.AlertStatus, wantCount: &response.Count{Open: -1},
		wantEvents: []string{"alert_resolved|alertmanager|Alert resolved: first title"},
	}, {
		name: "a resolve with other alerts open leaves it open", alert: resolved(), incident: open(tocsin.StatusTriggered, 2),
		known: known(tocsin.AlertFiring), autoResolve: true, wantAlert: response.AlertStatus, wantCount: &response.Count{Open: -1},
		wantEvents: []string{"alert_resolved|alertmanager|Alert resolved: first title"},
	}, {
		name: "a resolved alert firing again is counted", alert: firing("back", "warning"), incident: open(tocsin.StatusTriggered, 0),
		known: known(tocsin.AlertResolved), wantAlert: response.AlertUpdate, wantCount: &response.Count{Open: 1},
		wantEvents: []string{"alert_attached|alertmanager|Alert firing again: back"},
	}, {
		name: "a PagerDuty acknowledge acknowledges a triggered incident", alert: pdAck(), incident: open(tocsin.StatusTriggered, 1),
		known: known(tocsin.AlertFiring), wantAck: true,
	}, {
		name: "a PagerDuty acknowledge of an acknowledged incident does nothing", alert: pdAck(), incident: open(tocsin.StatusAcknowledged, 1),
		known: known(tocsin.AlertFiring),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy()
			p.AutoResolve = c.autoResolve
			in := response.Input{Alert: c.alert, Incident: c.incident, Known: c.known, Policy: p, Now: now}
			wantID := "a0"
			if c.known == nil {
				in.NewAlertID, wantID = "a1", "a1"
			}
			eff := response.Ingest(in)
			if want := (tocsin.IngestResult{AlertID: wantID, IncidentID: "i1", Deduplicated: true}); eff.Result != want {
				t.Errorf("result = %+v, want %+v", eff.Result, want)
			}
			if want := (response.AlertWrite{Op: c.wantAlert, ID: wantID, IncidentID: "i1"}); eff.Alert != want {
				t.Errorf("alert = %+v, want %+v", eff.Alert, want)
			}
			if !reflect.DeepEqual(eff.Count, c.wantCount) {
				t.Errorf("count = %+v, want %+v", eff.Count, c.wantCount)
			}
			if got := events(eff.Events); !reflect.DeepEqual(got, c.wantEvents) {
				t.Errorf("events = %q, want %q", got, c.wantEvents)
			}
			if eff.Open != nil || len(eff.Jobs) > 0 || eff.Status != nil {
				t.Errorf("an attached alert opens, queues and settles nothing itself: %+v", eff)
			}
			if got := eff.Acknowledge != nil; got != c.wantAck {
				t.Errorf("acknowledge = %v, want %v", eff.Acknowledge, c.wantAck)
			} else if got && *eff.Acknowledge != (tocsin.Actor{Name: "alertmanager", Via: "event"}) {
				t.Errorf("acknowledged by %v", eff.Acknowledge)
			}
			if got := eff.Resolve != nil; got != c.wantResolve {
				t.Errorf("resolve = %v, want %v", eff.Resolve, c.wantResolve)
			} else if got && *eff.Resolve != (tocsin.Actor{Name: "alertmanager", Via: "all alerts resolved"}) {
				t.Errorf("resolved by %v", eff.Resolve)
			}
		})
	}
}

func TestIngestForNothingOpenChangesNothing(t *testing.T) {
	for name, a := range map[string]*tocsin.Alert{"resolve": resolved(), "PagerDuty acknowledge": pdAck()} {
		eff := response.Ingest(response.Input{Alert: a, Policy: policy(), NewIncidentID: "i1", NewAlertID: "a1", Now: now})
		if !reflect.DeepEqual(eff, response.Effects{}) {
			t.Errorf("%s: effects = %+v, want none", name, eff)
		}
	}
}

func TestWarningsOncePerIncident(t *testing.T) {
	results := []tocsin.IngestResult{{IncidentID: "i1"}, {IncidentID: ""}, {IncidentID: "i2"}, {IncidentID: "i1"}}
	got := response.Warnings(results, []string{"oncall_wait: not allowed", "slack_channel_id: unknown"}, now)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.IncidentID)
		if e.Kind != tocsin.EventIntakeWarning || e.Actor != "intake" || !e.At.Equal(now) ||
			e.Message != "Request parameters ignored: oncall_wait: not allowed; slack_channel_id: unknown" {
			t.Errorf("event = %+v", e)
		}
		if string(e.Data) != `{"warnings":["oncall_wait: not allowed","slack_channel_id: unknown"]}` {
			t.Errorf("data = %s", e.Data)
		}
	}
	if !reflect.DeepEqual(ids, []string{"i1", "i2"}) {
		t.Errorf("incidents warned = %q, want i1, i2 once each", ids)
	}
	if w := response.Warnings(results, nil, now); w != nil {
		t.Errorf("no warnings: %+v", w)
	}
}

func TestAcknowledge(t *testing.T) {
	by := tocsin.Actor{Name: "alice", Via: "slack"}
	cases := []struct {
		name       string
		escalation *response.Escalation
		wantEvents []string
	}{{
		name:       "nothing pending",
		wantEvents: []string{"acknowledged|alice via slack|Acknowledged by alice via slack"},
	}, {
		name:       "a pending escalation is cancelled",
		escalation: &response.Escalation{Args: tocsin.EscalateArgs{Provider: "pagerduty"}},
		wantEvents: []string{"acknowledged|alice via slack|Acknowledged by alice via slack", "escalation||Escalation to pagerduty cancelled: acknowledged"},
	}, {
		name:       "an escalation under way still has its answer recorded",
		escalation: &response.Escalation{Args: tocsin.EscalateArgs{Provider: "pagerduty"}, Running: true},
		wantEvents: []string{"acknowledged|alice via slack|Acknowledged by alice via slack",
			"escalation||Escalation to pagerduty was under way when the incident was acknowledged; its answer is still recorded"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eff := response.Acknowledge(response.Change{Incident: &tocsin.Incident{ID: "i1", Status: tocsin.StatusTriggered}, By: by,
				Policy: policy(), Escalation: c.escalation, Now: now})
			if want := (&response.StatusChange{To: tocsin.StatusAcknowledged, By: by}); !reflect.DeepEqual(eff.Status, want) {
				t.Errorf("status = %+v, want %+v", eff.Status, want)
			}
			if got := events(eff.Events); !reflect.DeepEqual(got, c.wantEvents) {
				t.Errorf("events = %q, want %q", got, c.wantEvents)
			}
			wantCancel := []response.Cancel{{IncidentID: "i1", Kinds: []string{tocsin.JobRenotify, tocsin.JobEscalate}}}
			if !reflect.DeepEqual(eff.Cancel, wantCancel) || eff.StopEngagements != "acknowledged" {
				t.Errorf("cancel = %+v, stop engagements %q", eff.Cancel, eff.StopEngagements)
			}
			if got, want := jobs(t, eff.Jobs), notifies("i1", "acknowledged", "", nil); !reflect.DeepEqual(got, want) {
				t.Errorf("jobs = %+v\nwant %+v", got, want)
			}
		})
	}
	for _, st := range []string{tocsin.StatusAcknowledged, tocsin.StatusResolved} {
		eff := response.Acknowledge(response.Change{Incident: &tocsin.Incident{ID: "i1", Status: st}, By: by, Policy: policy(),
			Escalation: &response.Escalation{Args: tocsin.EscalateArgs{Provider: "pagerduty"}}, Now: now})
		if !reflect.DeepEqual(eff, response.Effects{}) {
			t.Errorf("acknowledging a %s incident: effects = %+v, want none", st, eff)
		}
	}
}

func TestResolve(t *testing.T) {
	by := tocsin.Actor{Name: "alertmanager", Via: "all alerts resolved"}
	refs := []tocsin.ChannelRef{
		{IncidentID: "i1", Channel: "slack", Ref: "1700000000.1"},
		{IncidentID: "i1", Channel: tocsin.OnCallRefChannel + "pagerduty", Ref: `{"provider":"pagerduty","target":"db","ref":"PD1"}`},
		{IncidentID: "i1", Channel: tocsin.OnCallRefChannel + "broken", Ref: `not json`},
	}
	for _, st := range []string{tocsin.StatusTriggered, tocsin.StatusAcknowledged} {
		eff := response.Resolve(response.Change{Incident: &tocsin.Incident{ID: "i1", Status: st}, By: by, AlertID: "a1", Policy: policy(),
			Escalation: &response.Escalation{Args: tocsin.EscalateArgs{Provider: "pagerduty"}}, Refs: refs, Now: now})
		if want := (&response.StatusChange{To: tocsin.StatusResolved, By: by}); !reflect.DeepEqual(eff.Status, want) {
			t.Errorf("%s: status = %+v, want %+v", st, eff.Status, want)
		}
		wantEvents := []string{"resolved|alertmanager via all alerts resolved|Resolved by alertmanager via all alerts resolved",
			"escalation||Escalation to pagerduty cancelled: resolved"}
		if got := events(eff.Events); !reflect.DeepEqual(got, wantEvents) {
			t.Errorf("%s: events = %q, want %q", st, got, wantEvents)
		}
		wantCancel := []response.Cancel{{IncidentID: "i1", Kinds: []string{tocsin.JobRenotify, tocsin.JobEscalate}}}
		if !reflect.DeepEqual(eff.Cancel, wantCancel) || eff.StopEngagements != "resolved" {
			t.Errorf("%s: cancel = %+v, stop engagements %q", st, eff.Cancel, eff.StopEngagements)
		}
		// The provider that saved a readable reference is told first; the
		// channels' references are theirs, not providers'.
		want := append([]job{{tocsin.JobDeescalate, "escalate:pagerduty", "", "i1", now,
			map[string]any{"provider": "pagerduty", "target": "db", "ref": "PD1"}}}, notifies("i1", "resolved", "a1", nil)...)
		if got := jobs(t, eff.Jobs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: jobs = %+v\nwant %+v", st, got, want)
		}
	}
	eff := response.Resolve(response.Change{Incident: &tocsin.Incident{ID: "i1", Status: tocsin.StatusResolved}, By: by, Policy: policy(), Refs: refs, Now: now})
	if !reflect.DeepEqual(eff, response.Effects{}) {
		t.Errorf("resolving a resolved incident: effects = %+v, want none", eff)
	}
}

func TestDeescalate(t *testing.T) {
	j := response.Deescalate("i1", `{"provider":"awsim","ref":"arn:1"}`, now)
	if j == nil || j.Kind != tocsin.JobDeescalate || j.Lane != tocsin.EscalateLane("awsim") || j.IncidentID != "i1" || !j.DueAt.Equal(now) ||
		!strings.Contains(string(j.Args), `"ref":"arn:1"`) {
		t.Errorf("deescalate = %+v", j)
	}
	if j := response.Deescalate("i1", "{", now); j != nil {
		t.Errorf("an unreadable reference queues nothing: %+v", j)
	}
}
