package servicenow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/integration/integrationtest"
	"tocsin/integration/servicenow"
	"tocsin/notify"
)

func newProvider(t *testing.T, url string, others map[string]string, timeout time.Duration) *servicenow.Provider {
	t.Helper()
	p, err := servicenow.New(config.ServiceNow{
		InstanceURL:       url,
		Username:          integrationtest.ServiceNowUsername,
		Password:          integrationtest.ServiceNowPassword,
		OtherInstanceURLs: others,
	}, servicenow.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	fake := integrationtest.NewServiceNow(t)
	integrationtest.Run(t, integrationtest.Suite{
		New: func(t *testing.T, url string, timeout time.Duration) integration.Provider {
			return newProvider(t, url, nil, timeout)
		},
		Fake: fake, URL: fake.URL,
		Secrets: []string{integrationtest.ServiceNowPassword},
		Echo:    true,
	})
}

func TestTriggerCreatesOnceAndResolves(t *testing.T) {
	fake := integrationtest.NewServiceNow(t)
	p := newProvider(t, fake.URL, nil, time.Second)
	ctx := context.Background()
	e := integrationtest.SampleEscalation()
	ref, err := p.Trigger(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Trigger(ctx, e)
	if err != nil || again != ref {
		t.Fatalf("second Trigger = %q, %v; want %q", again, err, ref)
	}
	creates := fake.Creates()
	if len(creates) != 1 {
		t.Fatalf("%d records created, want 1", len(creates))
	}
	c := creates[0]
	f := c.Fields
	if c.Table != "incident" || c.SysID != ref || f["short_description"] != e.Title || f["correlation_id"] != "tocsin-inc_01" ||
		f["correlation_display"] != "tocsin" || f["impact"] != "1" || f["urgency"] != "1" {
		t.Errorf("created %+v", c)
	}
	for _, want := range []string{e.Summary, "tocsin incident: " + e.URL, "Severity: critical", "Source: alertmanager", "  alertname=PostgresqlDown"} {
		if !strings.Contains(f["description"], want) {
			t.Errorf("description lacks %q:\n%s", want, f["description"])
		}
	}
	if q := fake.Queries(); len(q) != 2 || q[0] != "correlation_id=tocsin-inc_01" {
		t.Errorf("queries = %q", q)
	}
	if err := p.Resolve(ctx, e, ref); err != nil {
		t.Fatal(err)
	}
	rec, _ := fake.Record(ref)
	if rec.Fields["state"] != "6" || rec.Fields["close_code"] != servicenow.CloseCode || rec.Fields["close_notes"] != "Resolved in tocsin: "+e.URL {
		t.Errorf("after resolve: %v", rec.Fields)
	}
}

func TestResolveWithoutRefFindsRecord(t *testing.T) {
	fake := integrationtest.NewServiceNow(t)
	p := newProvider(t, fake.URL, nil, time.Second)
	e := integrationtest.SampleEscalation()
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(context.Background(), e, ""); err != nil {
		t.Fatal(err)
	}
	if rec, _ := fake.Record(ref); rec.Fields["state"] != "6" {
		t.Errorf("not resolved: %v", rec.Fields)
	}
	e.DedupKey = "tocsin-other"
	err = p.Resolve(context.Background(), e, "")
	if perm, _ := notify.Classify(err); !perm {
		t.Errorf("Resolve of nothing = %v; want permanent", err)
	}
}

func TestTargetSelectsInstance(t *testing.T) {
	home, other := integrationtest.NewServiceNow(t), integrationtest.NewServiceNow(t)
	p := newProvider(t, home.URL, map[string]string{"emea": other.URL + "/"}, time.Second)
	if !p.HasTarget("emea") || p.HasTarget("apac") {
		t.Error("HasTarget is wrong")
	}
	e := integrationtest.SampleEscalation()
	e.Target = "emea"
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	if len(home.Records()) != 0 || len(other.Records()) != 1 || len(other.Updates()) != 1 {
		t.Errorf("home %d records, other %d records %d updates", len(home.Records()), len(other.Records()), len(other.Updates()))
	}
}

func TestBadCredentialsArePermanent(t *testing.T) {
	fake := integrationtest.NewServiceNow(t)
	p, err := servicenow.New(config.ServiceNow{InstanceURL: fake.URL, Username: "tocsin", Password: "wrong-password"}, servicenow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Trigger(context.Background(), integrationtest.SampleEscalation())
	if perm, _ := notify.Classify(err); !perm || strings.Contains(err.Error(), "wrong-password") || !strings.Contains(err.Error(), "401") {
		t.Errorf("Trigger = %v; want a permanent 401 without the password", err)
	}
}

func TestHibernatingInstanceIsRetryable(t *testing.T) {
	fake := integrationtest.NewServiceNow(t)
	p := newProvider(t, fake.URL, nil, time.Second)
	fake.FailNext(1, integrationtest.Fault{Status: 200, Body: "<html>Your instance is hibernating</html>", ContentType: "text/html"})
	_, err := p.Trigger(context.Background(), integrationtest.SampleEscalation())
	if perm, _ := notify.Classify(err); err == nil || perm {
		t.Errorf("Trigger = %v; want a retryable error", err)
	}
	if len(fake.Creates()) != 0 {
		t.Error("created a record after a failed lookup")
	}
}

func TestImpactUrgency(t *testing.T) {
	for impact, want := range map[int][2]string{1: {"1", "1"}, 2: {"1", "2"}, 3: {"2", "2"}, 4: {"2", "3"}, 5: {"3", "3"}, 0: {"2", "2"}} {
		if i, u := servicenow.ImpactUrgency(impact); i != want[0] || u != want[1] {
			t.Errorf("ImpactUrgency(%d) = %s/%s, want %s/%s", impact, i, u, want[0], want[1])
		}
	}
}

func TestCorrelationID(t *testing.T) {
	for _, tc := range []struct {
		e      integration.Escalation
		hashed bool
	}{
		{integration.Escalation{DedupKey: "tocsin-0191f0a2-3b4c-7d5e-8f60-718293a4b5c6"}, false},
		{integration.Escalation{IncidentID: "abc"}, false},
		{integration.Escalation{DedupKey: "a^b=c"}, true},
		{integration.Escalation{DedupKey: strings.Repeat("x", 101)}, true},
	} {
		got := servicenow.CorrelationID(&tc.e)
		if tc.hashed != (strings.HasPrefix(got, "tocsin-") && len(got) == 47) || len(got) > 100 || strings.Contains(got, "^") {
			t.Errorf("CorrelationID(%+v) = %q", tc.e, got)
		}
		if got != servicenow.CorrelationID(&tc.e) {
			t.Error("not stable")
		}
	}
}

func TestNewValidation(t *testing.T) {
	ok := config.ServiceNow{InstanceURL: "https://dev1.service-now.com", Username: "u", Password: "p"}
	for _, tc := range []struct {
		mod  func(*config.ServiceNow)
		want string
	}{
		{func(c *config.ServiceNow) { c.InstanceURL = "" }, "instance_url"},
		{func(c *config.ServiceNow) { c.InstanceURL = "dev1.service-now.com" }, "instance_url"},
		{func(c *config.ServiceNow) { c.Username = "" }, "username"},
		{func(c *config.ServiceNow) { c.Password = "" }, "password"},
		{func(c *config.ServiceNow) { c.Table = "incident/1" }, "table"},
		{func(c *config.ServiceNow) { c.OtherInstanceURLs = map[string]string{"x": "nope"} }, "other_instance_urls.x"},
	} {
		c := ok
		tc.mod(&c)
		if _, err := servicenow.New(c, servicenow.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New = %v; want an error naming %s", err, tc.want)
		}
	}
	if p, err := servicenow.New(ok, servicenow.Options{}); err != nil || p.Name() != "servicenow" {
		t.Errorf("New = %v", err)
	}
}
