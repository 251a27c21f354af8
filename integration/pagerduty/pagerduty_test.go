package pagerduty_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/integration/integrationtest"
	"tocsin/integration/pagerduty"
	"tocsin/notify"
)

const (
	routingKey = "R0UTINGKEY0000000000000000000001"
	otherKey   = "R0UTINGKEY0000000000000000000002"
)

func newProvider(t *testing.T, url string, timeout time.Duration) *pagerduty.Provider {
	t.Helper()
	p, err := pagerduty.New(config.PagerDuty{
		RoutingKey:       routingKey,
		OtherRoutingKeys: map[string]string{"db": otherKey},
		APIURL:           url,
	}, pagerduty.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	fake := integrationtest.NewPagerDuty(t)
	integrationtest.Run(t, integrationtest.Suite{
		New: func(t *testing.T, url string, timeout time.Duration) integration.Provider {
			return newProvider(t, url, timeout)
		},
		Fake: fake, URL: fake.URL,
		Secrets: []string{routingKey, otherKey},
		Echo:    true,
	})
}

func TestTriggerSendsRealContext(t *testing.T) {
	fake := integrationtest.NewPagerDuty(t)
	p := newProvider(t, fake.URL, time.Second)
	e := integrationtest.SampleEscalation()
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "tocsin-inc_01" {
		t.Errorf("ref = %q, want the dedup key", ref)
	}
	evs := fake.Events()
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	ev := evs[0]
	pl := ev.Payload
	if ev.RoutingKey != routingKey || ev.EventAction != "trigger" || ev.DedupKey != "tocsin-inc_01" ||
		ev.Client != "tocsin" || ev.ClientURL != e.URL {
		t.Errorf("event = %+v", ev)
	}
	if pl.Summary != e.Title || pl.Source != "pg-prod-01" || pl.Severity != "critical" ||
		pl.Component != "billing-db" || pl.Group != "postgres" || pl.Class != "PostgresqlDown" {
		t.Errorf("payload = %+v", pl)
	}
	cd := pl.CustomDetails
	if cd["incident_id"] != "inc_01" || cd["url"] != e.URL || cd["impact"] != float64(1) || cd["severity"] != "critical" ||
		cd["summary"] != e.Summary || cd["source"] != "alertmanager" {
		t.Errorf("custom_details = %v", cd)
	}
	if labels, _ := cd["labels"].(map[string]any); labels["alertname"] != "PostgresqlDown" {
		t.Errorf("custom_details.labels = %v", cd["labels"])
	}
	if len(ev.Links) != 1 || ev.Links[0].Href != e.URL || ev.Links[0].Text != "tocsin incident" {
		t.Errorf("links = %+v", ev.Links)
	}
	if got := fake.Status(routingKey, ref); got != "triggered" {
		t.Errorf("status = %q", got)
	}
	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	if got := fake.Status(routingKey, ref); got != "resolved" {
		t.Errorf("status after resolve = %q", got)
	}
	if ev := fake.Events()[1]; ev.EventAction != "resolve" || ev.DedupKey != ref || ev.RoutingKey != routingKey || ev.Payload != nil {
		t.Errorf("resolve event = %+v", ev)
	}
}

func TestTargetSelectsRoutingKey(t *testing.T) {
	fake := integrationtest.NewPagerDuty(t)
	p := newProvider(t, fake.URL, time.Second)
	if !p.HasTarget("db") || p.HasTarget("web") {
		t.Error("HasTarget is wrong")
	}
	e := integrationtest.SampleEscalation()
	e.Target = "db"
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	for _, ev := range fake.Events() {
		if ev.RoutingKey != otherKey {
			t.Errorf("%s went to the wrong routing key", ev.EventAction)
		}
	}
	if fake.Status(otherKey, ref) != "resolved" {
		t.Error("alternate alert not resolved")
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		impact   int
		severity string
		want     string
	}{
		{1, "info", "critical"}, {2, "", "error"}, {3, "critical", "warning"}, {4, "", "info"}, {5, "", "info"},
		{0, "Warning", "warning"}, {0, "high", "critical"}, {9, "", "critical"},
	} {
		if got := pagerduty.Severity(tc.impact, tc.severity); got != tc.want {
			t.Errorf("Severity(%d, %q) = %q, want %q", tc.impact, tc.severity, got, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	fake := integrationtest.NewPagerDuty(t)
	p := newProvider(t, fake.URL, time.Second)
	e := integrationtest.SampleEscalation()
	e.Title = strings.Repeat("é", 2000)
	e.DedupKey = strings.Repeat("k", 300)
	e.Labels = nil
	e.Source = ""
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := p.Trigger(context.Background(), e)
	ev := fake.Events()[0]
	if n := len([]rune(ev.Payload.Summary)); n != 1024 {
		t.Errorf("summary has %d characters", n)
	}
	if len(ref) > 255 || ref != ev.DedupKey || again != ref {
		t.Errorf("dedup key %q (again %q) not hashed stably to ≤255", ref, again)
	}
	if ev.Payload.Source != "tocsin" {
		t.Errorf("source = %q", ev.Payload.Source)
	}
}

func TestDefaultsAndValidation(t *testing.T) {
	if _, err := pagerduty.New(config.PagerDuty{}, pagerduty.Options{}); err == nil || !strings.Contains(err.Error(), "routing_key") {
		t.Errorf("missing routing key: %v", err)
	}
	if _, err := pagerduty.New(config.PagerDuty{RoutingKey: "k", APIURL: "ftp://x"}, pagerduty.Options{}); err == nil || !strings.Contains(err.Error(), "api_url") {
		t.Errorf("bad api_url: %v", err)
	}
	if _, err := pagerduty.New(config.PagerDuty{RoutingKey: "k", OtherRoutingKeys: map[string]string{"x": ""}}, pagerduty.Options{}); err == nil || !strings.Contains(err.Error(), "other_routing_keys.x") {
		t.Errorf("empty alternate: %v", err)
	}
	p, err := pagerduty.New(config.PagerDuty{RoutingKey: "k"}, pagerduty.Options{})
	if err != nil || p.Name() != "pagerduty" {
		t.Fatalf("New = %v, %v", p, err)
	}
}

// A caller's client without a timeout is still bounded by Options.Timeout.
func TestTimeoutWithCallersClient(t *testing.T) {
	fake := integrationtest.NewPagerDuty(t)
	fake.FailNext(1, integrationtest.Hang())
	p, err := pagerduty.New(config.PagerDuty{RoutingKey: routingKey, APIURL: fake.URL + "/v2/enqueue"},
		pagerduty.Options{HTTPClient: &http.Client{}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Trigger(context.Background(), integrationtest.SampleEscalation())
	if perm, _ := notify.Classify(err); err == nil || perm || time.Since(start) > 2*time.Second {
		t.Errorf("Trigger = %v after %v", err, time.Since(start))
	}
}
