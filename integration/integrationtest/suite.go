package integrationtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tocsin/integration"
	"tocsin/notify"
)

// Injector is the fault control every fake in this package has.
type Injector interface {
	FailNext(n int, f Fault)
	ClearFaults()
}

// Suite describes a provider under test wired to one of this package's
// fakes, for Run.
type Suite struct {
	// New builds the provider talking to the fake at baseURL with a
	// per-call timeout of timeout. Run also calls it with the URL of a
	// closed server.
	New func(t *testing.T, baseURL string, timeout time.Duration) integration.Provider
	// Fake is the fake behind URL.
	Fake Injector
	// URL is the fake's URL.
	URL string
	// Secrets are the configured credentials (routing keys, API keys,
	// passwords); none may appear in an error or a returned reference.
	Secrets []string
	// Echo makes the fake echo the secrets back in error bodies. Set it
	// when the provider's server receives them (every HTTP provider); AWS
	// only ever receives a signature.
	Echo bool
	// Escalation builds the escalation to send; nil uses SampleEscalation.
	Escalation func() *integration.Escalation
}

// suiteTimeout is the per-call timeout Run configures; hangGrace is how much
// longer than it a call may take.
const (
	suiteTimeout = 300 * time.Millisecond
	hangGrace    = 2 * time.Second
)

// SampleEscalation returns a typical escalation: a critical incident from
// Alertmanager with labels, a summary and a link back to tocsin.
func SampleEscalation() *integration.Escalation {
	return &integration.Escalation{
		IncidentID: "inc_01",
		Title:      "Postgresql down (instance pg-prod-01)",
		Summary:    "Postgresql instance is down.",
		Impact:     1,
		Severity:   "critical",
		Source:     "alertmanager",
		URL:        "https://tocsin.example.com/incidents/inc_01",
		DedupKey:   "tocsin-inc_01",
		Labels: map[string]string{
			"alertname": "PostgresqlDown", "instance": "pg-prod-01", "severity": "critical",
			"service": "billing-db", "job": "postgres",
		},
	}
}

// Run checks what every provider must do: trigger and resolve, the same
// reference for a repeated trigger, 429/5xx classified retryable (with
// Retry-After), other 4xx permanent, a hanging server given up on within
// the timeout, an unreachable server retryable, an unknown target
// permanent, and no secret in any error or reference.
func Run(t *testing.T, s Suite) {
	t.Helper()
	esc := s.Escalation
	if esc == nil {
		esc = SampleEscalation
	}
	p := s.New(t, s.URL, suiteTimeout)
	ctx := context.Background()
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, sec := range s.Secrets {
			if sec != "" && strings.Contains(err.Error(), sec) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
	}

	var ref string
	t.Run("trigger and resolve", func(t *testing.T) {
		var err error
		ref, err = p.Trigger(ctx, esc())
		check(t, err)
		if err != nil || ref == "" {
			t.Fatalf("Trigger = %q, %v; want a reference", ref, err)
		}
		for _, sec := range s.Secrets {
			if sec != "" && strings.Contains(ref, sec) {
				t.Errorf("reference %q holds a secret", ref)
			}
		}
		again, err := p.Trigger(ctx, esc())
		check(t, err)
		if err != nil || again != ref {
			t.Errorf("repeated Trigger = %q, %v; want the same reference %q", again, err, ref)
		}
		err = p.Resolve(ctx, esc(), ref)
		check(t, err)
		if err != nil {
			t.Errorf("Resolve: %v", err)
		}
	})
	if ref == "" {
		return
	}

	type call struct {
		name string
		do   func() error
	}
	calls := []call{
		{"trigger", func() error { _, err := p.Trigger(ctx, esc()); return err }},
		{"resolve", func() error { return p.Resolve(ctx, esc(), ref) }},
	}
	retryable := []struct {
		name  string
		fault Fault
		after time.Duration
	}{
		{"429", Throttled(), 2 * time.Second},
		{"500", ServerError(), 0},
		{"502", Fault{Status: http.StatusBadGateway}, 0},
		{"503 retry-after", Fault{Status: http.StatusServiceUnavailable, RetryAfter: "7"}, 7 * time.Second},
	}
	for _, c := range calls {
		for _, tc := range retryable {
			t.Run(c.name+" "+tc.name+" is retryable", func(t *testing.T) {
				s.Fake.ClearFaults()
				s.Fake.FailNext(1, tc.fault)
				err := c.do()
				check(t, err)
				permanent, after := notify.Classify(err)
				if err == nil || permanent || after != tc.after {
					t.Errorf("got %v (permanent %v, retry after %v); want a retryable error, retry after %v", err, permanent, after, tc.after)
				}
			})
		}
	}
	permanent := []Fault{
		Rejected(http.StatusBadRequest, "ValidationException"),
		Rejected(http.StatusUnauthorized, "UnrecognizedClientException"),
		Rejected(http.StatusForbidden, "AccessDeniedException"),
		Rejected(http.StatusNotFound, "ResourceNotFoundException"),
	}
	if s.Echo {
		for _, sec := range s.Secrets {
			permanent = append(permanent, Fault{Status: http.StatusBadRequest, Body: `{"message":"invalid key ` + sec + `","errors":["` + sec + `"]}`})
		}
	}
	for _, c := range calls {
		for _, f := range permanent {
			t.Run(c.name+" "+http.StatusText(f.Status)+" is permanent", func(t *testing.T) {
				s.Fake.ClearFaults()
				s.Fake.FailNext(1, f)
				err := c.do()
				check(t, err)
				if perm, _ := notify.Classify(err); err == nil || !perm {
					t.Errorf("got %v; want a permanent error", err)
				}
			})
		}
		if s.Echo {
			t.Run(c.name+" secret echoed in a 500", func(t *testing.T) {
				s.Fake.ClearFaults()
				s.Fake.FailNext(1, Fault{Status: 500, Body: strings.Join(s.Secrets, " "), ContentType: "text/plain"})
				check(t, c.do())
			})
		}
		t.Run(c.name+" hanging server", func(t *testing.T) {
			s.Fake.ClearFaults()
			s.Fake.FailNext(1, Hang())
			start := time.Now()
			err := c.do()
			check(t, err)
			if d := time.Since(start); d > suiteTimeout+hangGrace {
				t.Errorf("returned after %v; timeout is %v", d, suiteTimeout)
			}
			if perm, _ := notify.Classify(err); err == nil || perm {
				t.Errorf("got %v; want a retryable timeout", err)
			}
		})
	}
	s.Fake.ClearFaults()

	t.Run("unreachable server", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		q := s.New(t, deadURL, suiteTimeout)
		_, err := q.Trigger(ctx, esc())
		check(t, err)
		if perm, _ := notify.Classify(err); err == nil || perm {
			t.Errorf("Trigger = %v; want a retryable error", err)
		}
		err = q.Resolve(ctx, esc(), ref)
		check(t, err)
		if perm, _ := notify.Classify(err); err == nil || perm {
			t.Errorf("Resolve = %v; want a retryable error", err)
		}
	})
	t.Run("unknown target", func(t *testing.T) {
		const key = "no-such-target"
		if p.HasTarget(key) || p.HasTarget("") {
			t.Errorf("HasTarget(%q) or HasTarget(\"\") is true", key)
		}
		e := esc()
		e.Target = key
		_, err := p.Trigger(ctx, e)
		check(t, err)
		if perm, _ := notify.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), key) {
			t.Errorf("Trigger = %v; want a permanent error naming %q", err, key)
		}
	})
	t.Run("nil escalation", func(t *testing.T) {
		_, err := p.Trigger(ctx, nil)
		check(t, err)
		if perm, _ := notify.Classify(err); !perm {
			t.Errorf("Trigger(nil) = %v; want a permanent error", err)
		}
	})
}
