// Package notifytest holds the checks every notification channel must pass,
// run against a local fake provider: success, retryable and permanent
// failures, Retry-After, timeouts against a hanging server, unreachable
// servers, and secrets that must never appear in an error.
//
// A channel test wires its constructor to the fake and calls Run:
//
//	notifytest.Run(t, notifytest.Harness{
//		New: func(t *testing.T, baseURL string) notify.Channel {
//			ch, err := webhook.New(config.Webhook{URL: baseURL + "/hook?key=s3cret", Timeout: config.Duration(300 * time.Millisecond)}, webhook.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return ch
//		},
//		Timeout: 300 * time.Millisecond,
//		Secrets: []string{"s3cret"},
//	})
package notifytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
)

// Reply is how the fake provider answers a request.
type Reply struct {
	// Status is the HTTP status the check means: 200 for success, or an
	// error status. A provider's Respond may express it in its own dialect
	// (Slack answers 200 {"ok":false,"error":"invalid_auth"} for a 401).
	Status int
	// RetryAfter is the Retry-After header value to send, if any.
	RetryAfter string
	// Hang makes the server hold the request until the client gives up.
	Hang bool
}

// OK is a successful reply.
func OK() Reply { return Reply{Status: http.StatusOK} }

// Status is an HTTP error reply with an optional Retry-After header value.
func Status(code int, retryAfter string) Reply { return Reply{Status: code, RetryAfter: retryAfter} }

// Hang is a reply that never comes: the server holds the request open.
func Hang() Reply { return Reply{Hang: true} }

// Harness describes a channel under test wired to a local fake provider
// whose behaviour the checks control.
type Harness struct {
	// New builds the channel pointing at baseURL (an httptest server). It
	// must configure the channel's timeout to Timeout.
	New func(t *testing.T, baseURL string) notify.Channel
	// Respond writes reply in the provider's dialect. Nil writes the status,
	// the Retry-After header, and "{}" or a short error body.
	Respond func(w http.ResponseWriter, r *http.Request, reply Reply)
	// Timeout is the send timeout New configures. Keep it short (100ms–1s):
	// the hang check waits for it. Required.
	Timeout time.Duration
	// Secrets are the configured credentials (tokens, passwords, secret URL
	// parts); none may appear in any error or returned reference.
	Secrets []string
	// Message builds the message to send; nil uses SampleMessage(EventOpened).
	Message func() *notify.Message
	// Request, if set, inspects each request of the successful send.
	Request func(t *testing.T, r *http.Request, body []byte)
}

// outerGrace bounds a send beyond the channel's own timeout, so a channel
// that ignores its timeout fails the hang check instead of hanging the run.
var outerGrace = 30 * time.Second

// check is one conformance check; it returns what is wrong, or nil.
type check struct {
	name string
	run  func(t *testing.T, h Harness) error
}

var checks = []check{
	{"ok", checkOK},
	{"server_error_500_is_retryable", checkStatus(http.StatusInternalServerError, "", false, 0)},
	{"bad_gateway_502_is_retryable", checkStatus(http.StatusBadGateway, "", false, 0)},
	{"rate_limited_429_honours_retry_after", checkStatus(http.StatusTooManyRequests, "7", false, 7*time.Second)},
	{"bad_request_400_is_permanent", checkStatus(http.StatusBadRequest, "", true, 0)},
	{"unauthorized_401_is_permanent", checkStatus(http.StatusUnauthorized, "", true, 0)},
	{"forbidden_403_is_permanent", checkStatus(http.StatusForbidden, "", true, 0)},
	{"hanging_server_times_out_retryable", checkHang},
	{"unreachable_server_is_retryable", checkUnreachable},
}

// Run runs every check against the channel h describes, each as a subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("notifytest: Harness.New is required")
	}
	if h.Timeout <= 0 {
		t.Fatal("notifytest: Harness.Timeout is required (the short timeout New configures)")
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(t, h); err != nil {
				t.Error(err)
			}
		})
	}
}

// fake is the local provider: it answers every request with reply.
type fake struct {
	URL string

	mu       sync.Mutex
	requests int
}

func startFake(t *testing.T, h Harness, reply Reply, inspect bool) *fake {
	t.Helper()
	f := &fake{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		if reply.Hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		if inspect && h.Request != nil {
			h.Request(t, r, body)
		}
		if h.Respond != nil {
			h.Respond(w, r, reply)
			return
		}
		DefaultRespond(w, r, reply)
	}))
	// Cleanups run last-in first-out: release hung handlers, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	f.URL = srv.URL
	return f
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// DefaultRespond writes reply as a plain HTTP API would: the status, the
// Retry-After header, and "{}" or a short JSON error body.
func DefaultRespond(w http.ResponseWriter, _ *http.Request, reply Reply) {
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.Status)
	if reply.Status >= 200 && reply.Status < 300 {
		io.WriteString(w, "{}")
		return
	}
	fmt.Fprintf(w, `{"error":%q}`, http.StatusText(reply.Status))
}

func (h Harness) message() *notify.Message {
	if h.Message != nil {
		return h.Message()
	}
	return SampleMessage(notify.EventOpened)
}

// send builds a channel against baseURL and sends one message, bounded by
// a generous outer deadline so a broken channel cannot hang the test run.
func send(t *testing.T, h Harness, baseURL string) (ref string, elapsed time.Duration, err error) {
	t.Helper()
	ch := h.New(t, baseURL)
	if ch == nil {
		return "", 0, errors.New("Harness.New returned nil")
	}
	if ch.Name() == "" {
		t.Errorf("channel Name() is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout+outerGrace)
	defer cancel()
	start := time.Now()
	ref, err = ch.Send(ctx, h.message())
	return ref, time.Since(start), err
}

// leaks reports the secrets found in s.
func (h Harness) leaks(what, s string) error {
	var found []string
	for _, secret := range h.Secrets {
		if secret != "" && strings.Contains(s, secret) {
			found = append(found, fmt.Sprintf("%q", secret))
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("%s leaks secret(s) %s: %s", what, strings.Join(found, ", "), s)
	}
	return nil
}

func checkOK(t *testing.T, h Harness) error {
	f := startFake(t, h, OK(), true)
	ref, _, err := send(t, h, f.URL)
	if err != nil {
		return errors.Join(fmt.Errorf("send to a provider answering OK: %v", err), h.leaks("error", err.Error()))
	}
	if f.count() == 0 {
		return errors.New("send returned nil but the provider received no request")
	}
	return h.leaks("returned ref", ref)
}

func checkStatus(code int, retryAfter string, wantPermanent bool, wantAfter time.Duration) func(*testing.T, Harness) error {
	return func(t *testing.T, h Harness) error {
		f := startFake(t, h, Status(code, retryAfter), false)
		_, _, err := send(t, h, f.URL)
		if err == nil {
			return fmt.Errorf("send to a provider answering %d returned nil error", code)
		}
		if f.count() == 0 {
			return fmt.Errorf("send failed before reaching the provider: %v", err)
		}
		var problems []error
		permanent, after := notify.Classify(err)
		if permanent != wantPermanent {
			problems = append(problems, fmt.Errorf("HTTP %d: permanent = %v, want %v (error: %v)", code, permanent, wantPermanent, err))
		}
		if wantAfter > 0 && after != wantAfter {
			problems = append(problems, fmt.Errorf("HTTP %d with Retry-After %s: RetryAfter = %v, want %v", code, retryAfter, after, wantAfter))
		}
		problems = append(problems, h.leaks("error", err.Error()))
		return errors.Join(problems...)
	}
}

func checkHang(t *testing.T, h Harness) error {
	f := startFake(t, h, Hang(), false)
	_, elapsed, err := send(t, h, f.URL)
	// The grace covers a dial, TLS and scheduling on a loaded machine.
	limit := h.Timeout + 2*time.Second
	var problems []error
	if elapsed > limit {
		problems = append(problems, fmt.Errorf("send to a hanging server took %v, want at most the %v timeout (+2s grace)", elapsed, h.Timeout))
	}
	if err == nil {
		return errors.Join(append(problems, errors.New("send to a hanging server returned nil error"))...)
	}
	if permanent, _ := notify.Classify(err); permanent {
		problems = append(problems, fmt.Errorf("timeout classified permanent, want retryable: %v", err))
	}
	problems = append(problems, h.leaks("error", err.Error()))
	return errors.Join(problems...)
}

func checkUnreachable(t *testing.T, h Harness) error {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, _, err := send(t, h, url)
	if err == nil {
		return errors.New("send to an unreachable server returned nil error")
	}
	var problems []error
	if permanent, _ := notify.Classify(err); permanent {
		problems = append(problems, fmt.Errorf("network error classified permanent, want retryable: %v", err))
	}
	problems = append(problems, h.leaks("error", err.Error()))
	return errors.Join(problems...)
}

// SampleAlertmanagerPayload is an Alertmanager webhook body (version 4),
// the most common payload tocsin receives.
const SampleAlertmanagerPayload = `{
  "version": "4",
  "receiver": "tocsin",
  "status": "firing",
  "groupKey": "{}:{alertname=\"PostgresqlDown\"}",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "PostgresqlDown", "instance": "pg-prod-01", "severity": "critical"},
      "annotations": {"summary": "Postgresql down (instance pg-prod-01)", "description": "Postgresql instance is down."},
      "startsAt": "2026-03-01T12:34:56.789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0",
      "fingerprint": "c0ffee"
    }
  ],
  "groupLabels": {"alertname": "PostgresqlDown"},
  "commonLabels": {"alertname": "PostgresqlDown", "instance": "pg-prod-01", "severity": "critical"},
  "commonAnnotations": {"summary": "Postgresql down (instance pg-prod-01)", "description": "Postgresql instance is down."},
  "externalURL": "http://alertmanager:9093"
}`

// SampleMessage returns a realistic message about a critical Alertmanager
// incident for event. The incident's status follows the event
// (acknowledged by "alice via slack", resolved), and AckURL is set only
// while it is triggered, as the engine does.
func SampleMessage(event string) *notify.Message {
	created := time.Date(2026, 3, 1, 12, 35, 0, 0, time.UTC)
	alert := &tocsin.Alert{
		ID:          "al_01",
		IncidentID:  "inc_01",
		Source:      tocsin.SourceAlertmanager,
		DedupKey:    "PostgresqlDown",
		Fingerprint: "c0ffee",
		Status:      tocsin.AlertFiring,
		Severity:    "critical",
		Title:       "PostgresqlDown",
		Description: "Postgresql instance is down.",
		Labels:      map[string]string{"alertname": "PostgresqlDown", "instance": "pg-prod-01", "severity": "critical"},
		Annotations: map[string]string{"summary": "Postgresql down (instance pg-prod-01)"},
		Links:       []tocsin.Link{{Text: "Prometheus", URL: "http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0"}},
		StartsAt:    created.Add(-time.Minute),
		ReceivedAt:  created,
	}
	inc := &tocsin.Incident{
		ID:             "inc_01",
		Title:          "Postgresql down (instance pg-prod-01)",
		Impact:         tocsin.ImpactCritical,
		Status:         tocsin.StatusTriggered,
		Source:         tocsin.SourceAlertmanager,
		DedupKey:       "PostgresqlDown",
		Labels:         map[string]string{"severity": "critical"},
		CreatedAt:      created,
		UpdatedAt:      created,
		AlertCount:     1,
		OpenAlertCount: 1,
		Alerts:         []*tocsin.Alert{alert},
	}
	msg := &notify.Message{
		Event:       event,
		Incident:    inc,
		Alert:       alert,
		Payload:     json.RawMessage(SampleAlertmanagerPayload),
		IncidentURL: "https://tocsin.example.com/api/v1/incidents/inc_01",
		DeliveryID:  "dlv_01",
		SentAt:      created.Add(time.Second),
	}
	at := created.Add(5 * time.Minute)
	switch event {
	case notify.EventAcknowledged:
		inc.Status, inc.AckedAt, inc.AckedBy = tocsin.StatusAcknowledged, &at, "alice via slack"
	case notify.EventResolved:
		inc.Status, inc.ResolvedAt, inc.ResolvedBy = tocsin.StatusResolved, &at, "bob via api"
		alert.Status = tocsin.AlertResolved
		inc.OpenAlertCount = 0
	default:
		msg.AckURL = "https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=abc123"
	}
	return msg
}
