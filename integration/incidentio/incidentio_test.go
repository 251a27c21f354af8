package incidentio_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/integration/incidentio"
	"tocsin/integration/integrationtest"
	"tocsin/notify"
)

const (
	sourceID = "01HX4ALERTSOURCE0000000001"
	otherID  = "01HX4ALERTSOURCE0000000002"
)

func newProvider(t *testing.T, url, key string, timeout time.Duration) *incidentio.Provider {
	t.Helper()
	p, err := incidentio.New(config.IncidentIO{
		APIKey:                    key,
		AlertSourceConfigID:       sourceID,
		OtherAlertSourceConfigIDs: map[string]string{"payments": otherID},
		APIURL:                    url,
	}, incidentio.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	fake := integrationtest.NewIncidentIO(t)
	integrationtest.Run(t, integrationtest.Suite{
		New: func(t *testing.T, url string, timeout time.Duration) integration.Provider {
			return newProvider(t, url, fake.APIKey, timeout)
		},
		Fake: fake, URL: fake.URL,
		Secrets: []string{fake.APIKey},
		Echo:    true,
	})
}

func TestFiringThenResolved(t *testing.T) {
	fake := integrationtest.NewIncidentIO(t)
	p := newProvider(t, fake.URL+"/", fake.APIKey, time.Second)
	e := integrationtest.SampleEscalation()
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "tocsin-inc_01" || fake.Status(sourceID, ref) != "firing" {
		t.Fatalf("ref %q, status %q", ref, fake.Status(sourceID, ref))
	}
	ev := fake.Events()[0]
	md := ev.Metadata
	if ev.AlertSourceConfigID != sourceID || ev.Title != e.Title || ev.Description != e.Summary || ev.SourceURL != e.URL ||
		ev.DeduplicationKey != ref || ev.Status != "firing" {
		t.Errorf("event = %+v", ev)
	}
	if md["incident_id"] != "inc_01" || md["impact"] != float64(1) || md["severity"] != "critical" || md["source"] != "alertmanager" {
		t.Errorf("metadata = %v", md)
	}
	if labels, _ := md["labels"].(map[string]any); labels["instance"] != "pg-prod-01" {
		t.Errorf("metadata.labels = %v", md["labels"])
	}
	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	if fake.Status(sourceID, ref) != "resolved" {
		t.Error("not resolved")
	}
	if ev := fake.Events()[1]; ev.Title != e.Title || ev.Status != "resolved" {
		t.Errorf("resolve event = %+v", ev)
	}
}

func TestTargetSelectsAlertSource(t *testing.T) {
	fake := integrationtest.NewIncidentIO(t)
	p := newProvider(t, fake.URL, fake.APIKey, time.Second)
	if !p.HasTarget("payments") || p.HasTarget("web") {
		t.Error("HasTarget is wrong")
	}
	e := integrationtest.SampleEscalation()
	e.Target = "payments"
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	if fake.Status(otherID, ref) != "resolved" || fake.Status(sourceID, ref) != "" {
		t.Error("events went to the wrong alert source")
	}
}

func TestBadAPIKeyIsPermanent(t *testing.T) {
	fake := integrationtest.NewIncidentIO(t)
	p := newProvider(t, fake.URL, "wrong-key-123", time.Second)
	_, err := p.Trigger(context.Background(), integrationtest.SampleEscalation())
	if perm, _ := notify.Classify(err); !perm || strings.Contains(err.Error(), "wrong-key-123") || !strings.Contains(err.Error(), "401") {
		t.Errorf("Trigger = %v; want a permanent 401 without the key", err)
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.IncidentIO
		want string
	}{
		{config.IncidentIO{AlertSourceConfigID: "x"}, "api_key"},
		{config.IncidentIO{APIKey: "k"}, "alert_source_config_id"},
		{config.IncidentIO{APIKey: "k", AlertSourceConfigID: "x", APIURL: "api.incident.io"}, "api_url"},
		{config.IncidentIO{APIKey: "k", AlertSourceConfigID: "x", OtherAlertSourceConfigIDs: map[string]string{"y": ""}}, "other_alert_source_config_ids.y"},
	} {
		if _, err := incidentio.New(tc.cfg, incidentio.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	if p, err := incidentio.New(config.IncidentIO{APIKey: "k", AlertSourceConfigID: "x"}, incidentio.Options{}); err != nil || p.Name() != "incident_io" {
		t.Errorf("New = %v", err)
	}
}
