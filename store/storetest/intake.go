package storetest

import (
	"context"
	"strings"
	"testing"

	"tocsin"
	"tocsin/store"
)

// runIntake checks how Ingest treats what senders send after the first
// alert: thin resolves and acknowledgements, warnings about ignored request
// parameters, and dedup keys that changed format between versions.
func runIntake(t *testing.T, open func(*testing.T, func(*store.Options)) (*store.DB, *Clock)) {
	ctx := context.Background()

	t.Run("ThinResolveKeepsWhatTheTriggerSaid", func(t *testing.T) {
		db, _ := open(t, nil)
		trigger := &tocsin.Alert{Source: tocsin.SourcePagerDuty, DedupKey: "srv01/mysql", Fingerprint: "srv01/mysql", Status: tocsin.AlertFiring,
			Severity: "critical", Title: "MySQL down on srv01", Description: "connection refused",
			Labels: map[string]string{"source": "srv01", "component": "mysql"}, Annotations: map[string]string{"pagerduty_action": "trigger", "port": "3306"},
			Links: []tocsin.Link{{Text: "Runbook", URL: "https://runbooks.example.com/mysql"}}, StartsAt: Epoch}
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{trigger}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// PagerDuty's acknowledge and resolve carry only the dedup key.
		thin := func(action, status string) *tocsin.Alert {
			return &tocsin.Alert{Source: tocsin.SourcePagerDuty, DedupKey: "srv01/mysql", Fingerprint: "srv01/mysql", Status: status,
				Title: "PagerDuty event srv01/mysql", Annotations: map[string]string{"pagerduty_action": action}, EndsAt: Epoch.Add(5 * 60e9)}
		}
		if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{thin("acknowledge", tocsin.AlertFiring)}, tocsin.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{thin("resolve", tocsin.AlertResolved)}, tocsin.IngestOptions{})
		if err != nil || !r[0].Resolved || r[0].IncidentID != res[0].IncidentID {
			t.Fatalf("resolve: %+v %v", r, err)
		}
		inc, _ := db.Incidents().FindIncident(ctx, res[0].IncidentID)
		if inc.Status != tocsin.StatusResolved || inc.AckedBy == "" {
			t.Fatalf("incident status %s, acked by %q", inc.Status, inc.AckedBy)
		}
		a := inc.Alerts[0]
		if a.Title != "MySQL down on srv01" || a.Severity != "critical" || a.Description != "connection refused" ||
			a.Labels["component"] != "mysql" || a.Annotations["port"] != "3306" || len(a.Links) != 1 {
			t.Fatalf("the resolve replaced what the trigger said: %+v", a)
		}
		if a.Status != tocsin.AlertResolved || !a.EndsAt.Equal(Epoch.Add(5*60e9)) {
			t.Fatalf("status %s ends_at %v", a.Status, a.EndsAt)
		}
		// An acknowledge for nothing open opens nothing (PagerDuty drops it).
		r, err = db.Incidents().Ingest(ctx, []*tocsin.Alert{thin("acknowledge", tocsin.AlertFiring)}, tocsin.IngestOptions{})
		if err != nil || r[0].IncidentID != "" {
			t.Fatalf("acknowledge of nothing open: %+v %v", r, err)
		}
	})

	t.Run("WarningsOnEveryTouchedIncident", func(t *testing.T) {
		db, _ := open(t, nil)
		first, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g1", "a", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
		warnings := []string{`foo: unknown query parameter, ignored`, `oncall_enable: on-call is not configured, ignored`}
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{
			NewAlert("g1", "b", tocsin.AlertFiring, "high"), NewAlert("g2", "a", tocsin.AlertFiring, "high"), NewAlert("g2", "b", tocsin.AlertFiring, "high"),
		}, tocsin.IngestOptions{Warnings: warnings, IdempotencyKey: "req-1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{first[0].IncidentID, res[1].IncidentID} {
			inc, _ := db.Incidents().FindIncident(ctx, id)
			var got []*tocsin.TimelineEvent
			for _, e := range inc.Timeline {
				if e.Kind == tocsin.EventIntakeWarning {
					got = append(got, e)
				}
			}
			if len(got) != 1 || !strings.Contains(got[0].Message, "foo") || !strings.Contains(got[0].Message, "oncall_enable") ||
				!strings.Contains(string(got[0].Data), "unknown query parameter") {
				t.Fatalf("incident %s: want one warning event naming both parameters, got %s", id, eventsText(inc.Timeline))
			}
		}
		// A repeat of the same request changes nothing, warnings included.
		if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g1", "b", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{Warnings: warnings, IdempotencyKey: "req-1"}); err != nil {
			t.Fatal(err)
		}
		inc, _ := db.Incidents().FindIncident(ctx, first[0].IncidentID)
		n := 0
		for _, e := range inc.Timeline {
			if e.Kind == tocsin.EventIntakeWarning {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("a duplicate request added warnings: %s", eventsText(inc.Timeline))
		}
	})

	t.Run("LegacyDedupKeyFindsOpenIncident", func(t *testing.T) {
		db, _ := open(t, nil)
		// Opened before the upgrade, under the old key.
		old, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("gk", "a", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
		upgraded := func(sender, fp, status string) *tocsin.Alert {
			a := NewAlert(sender+" gk", fp, status, "high")
			a.LegacyDedupKey = "gk"
			return a
		}
		r, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{upgraded("http://am-prod", "a", tocsin.AlertFiring)}, tocsin.IngestOptions{})
		if err != nil || r[0].IncidentID != old[0].IncidentID || r[0].Created {
			t.Fatalf("re-sent after upgrade: %+v %v; want incident %s", r, err, old[0].IncidentID)
		}
		r, _ = db.Incidents().Ingest(ctx, []*tocsin.Alert{upgraded("http://am-prod", "a", tocsin.AlertResolved)}, tocsin.IngestOptions{})
		if !r[0].Resolved {
			t.Fatalf("resolve after upgrade: %+v", r)
		}
		// From now on each sender has its own incident.
		p, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{upgraded("http://am-prod", "a", tocsin.AlertFiring)}, tocsin.IngestOptions{})
		s, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{upgraded("http://am-staging", "a", tocsin.AlertFiring)}, tocsin.IngestOptions{})
		if !p[0].Created || !s[0].Created || p[0].IncidentID == s[0].IncidentID {
			t.Fatalf("prod %+v, staging %+v: want two new incidents", p[0], s[0])
		}
	})
}

func eventsText(events []*tocsin.TimelineEvent) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Kind + ": " + e.Message + "\n")
	}
	return b.String()
}
