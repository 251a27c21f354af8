// Package notifytest holds the checks every notification channel must pass,
// run against a local fake provider: success, retryable and permanent
// failures, Retry-After, timeouts against a hanging server, unreachable
// servers, secrets that must never appear in an error, a description too
// long for any channel's limit that must not cost the ack link, and a
// notice (notify.Notice) sent as its plain text, not as an incident.
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
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	{"long_description_keeps_ack_link", checkLongDescription},
	{"notice_is_sent_as_its_text", checkNotice},
	{"notice_errors_are_classified", checkNoticeErrors},
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
	bodies   []request
}

// request is what the fake received, for checks on the message's content.
type request struct {
	contentType string
	body        []byte
}

func startFake(t *testing.T, h Harness, reply Reply, inspect bool) *fake {
	t.Helper()
	f := &fake{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		f.mu.Lock()
		f.requests++
		f.bodies = append(f.bodies, request{r.Header.Get("Content-Type"), body})
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

// LongDescriptionLengths are the lengths of the descriptions of the
// long-alert check: the 5,200 characters that once cost Telegram its ack
// link, and more than any channel's limit (Teams' 20 KB included).
var LongDescriptionLengths = []int{5200, 24000}

// longDescription is a description of n characters with markup-significant
// characters, which channels escape into several.
func longDescription(n int) string {
	return (strings.Repeat("LONGDESC disk <sda1> & log line; ", n/33+1))[:n]
}

// send builds a channel against baseURL and sends msg (nil: the harness's
// message), bounded by a generous outer deadline so a broken channel cannot
// hang the test run.
func sendMessage(t *testing.T, h Harness, baseURL string, msg *notify.Message) (ref string, elapsed time.Duration, err error) {
	t.Helper()
	ch := h.New(t, baseURL)
	if ch == nil {
		return "", 0, errors.New("Harness.New returned nil")
	}
	if ch.Name() == "" {
		t.Errorf("channel Name() is empty")
	}
	if msg == nil {
		msg = h.message()
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout+outerGrace)
	defer cancel()
	start := time.Now()
	ref, err = ch.Send(ctx, msg)
	return ref, time.Since(start), err
}

// send builds a channel against baseURL and sends the harness's message.
func send(t *testing.T, h Harness, baseURL string) (ref string, elapsed time.Duration, err error) {
	t.Helper()
	return sendMessage(t, h, baseURL, nil)
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

// checkLongDescription sends alerts whose descriptions are longer than a
// channel's limit: the message must still carry the title and show the
// acknowledgement link in its text (not only as a button's target), unless
// the description arrived whole (a channel without a limit, such as a
// webhook, may send the link in a field of its own).
func checkLongDescription(t *testing.T, h Harness) error {
	var problems []error
	for _, n := range LongDescriptionLengths {
		problems = append(problems, checkDescriptionOf(t, h, n))
	}
	return errors.Join(problems...)
}

func checkDescriptionOf(t *testing.T, h Harness, n int) error {
	msg := h.message()
	if msg.AckURL == "" || msg.Incident == nil {
		return errors.New("the harness's message has no AckURL or incident: the check needs both")
	}
	desc := longDescription(n)
	if msg.Alert != nil {
		a := *msg.Alert
		a.Description = desc
		msg.Alert = &a
	} else {
		inc := *msg.Incident
		inc.Summary = desc
		msg.Incident = &inc
	}
	f := startFake(t, h, OK(), false)
	if _, _, err := sendMessage(t, h, f.URL, msg); err != nil {
		return fmt.Errorf("send of a %d-character description: %v", len(desc), err)
	}
	f.mu.Lock()
	var raw, texts []string
	for _, r := range f.bodies {
		raw = append(raw, string(r.body))
		texts = append(texts, decodedTexts(r.contentType, r.body)...)
	}
	f.mu.Unlock()
	var link, title, whole, shown bool
	for _, s := range append(raw, texts...) {
		link = link || strings.Contains(s, msg.AckURL)
		title = title || strings.Contains(s, msg.Incident.Title)
	}
	for _, s := range texts {
		whole = whole || strings.Contains(s, desc)
		shown = shown || (strings.Contains(s, msg.AckURL) && strings.TrimSpace(s) != msg.AckURL)
	}
	var problems []error
	switch {
	case !link:
		problems = append(problems, fmt.Errorf("a %d-character description cost the ack link %s", len(desc), msg.AckURL))
	case !shown && !whole:
		problems = append(problems, fmt.Errorf("with a %d-character description, the message's text lost the ack link (only a button has it)", len(desc)))
	}
	if !title {
		problems = append(problems, fmt.Errorf("a %d-character description cost the title %q", len(desc), msg.Incident.Title))
	}
	return errors.Join(problems...)
}

// decodedTexts returns the texts inside a request body: its form values
// and the strings of its JSON (also inside form values and strings), each
// also with HTML entities decoded, so a check can look for a link however a
// provider's API encodes it. Strings that are themselves JSON are replaced
// by what they hold.
func decodedTexts(contentType string, body []byte) []string {
	values := []string{string(body)}
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			values = nil
			for _, vs := range vals {
				values = append(values, vs...)
			}
		}
	}
	var out []string
	for _, s := range values {
		out = append(out, jsonStrings(s)...)
	}
	for i, n := 0, len(out); i < n; i++ {
		if u := html.UnescapeString(out[i]); u != out[i] {
			out = append(out, u)
		}
	}
	return out
}

// jsonStrings returns the leaf strings of s when it holds a JSON object or
// array, else s itself.
func jsonStrings(s string) []string {
	var v any
	if t := strings.TrimSpace(s); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Unmarshal([]byte(t), &v) == nil {
		return leaves(v)
	}
	return []string{s}
}

func leaves(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = jsonStrings(x)
	case []any:
		for _, e := range x {
			out = append(out, leaves(e)...)
		}
	case map[string]any:
		for _, e := range x {
			out = append(out, leaves(e)...)
		}
	}
	return out
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

// SampleNotice is the notice the notice checks send: a hand-off note with
// characters markup would change.
func SampleNotice() *notify.Notice {
	return &notify.Notice{Subject: "tocsin: you are now on call for platform",
		Text:       "tocsin: you are now on call for platform (since 2026-11-24 09:00 UTC). Also on call: bo & <lee>.",
		DeliveryID: "01notice-0000-4000-8000-000000000001", SentAt: time.Date(2026, 11, 24, 9, 0, 1, 0, time.UTC)}
}

// sendNotice builds a channel against baseURL and sends SampleNotice
// through it; the channel must be a notify.NoticeSender.
func sendNotice(t *testing.T, h Harness, baseURL string) error {
	t.Helper()
	ch := h.New(t, baseURL)
	ns, ok := ch.(notify.NoticeSender)
	if !ok {
		return fmt.Errorf("channel %s is not a notify.NoticeSender: hand-off notes and activation codes cannot go through it", ch.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout+outerGrace)
	defer cancel()
	return ns.SendNotice(ctx, SampleNotice())
}

// checkNotice sends a notice: the provider receives its text whole, and
// nothing that reads as an incident.
func checkNotice(t *testing.T, h Harness) error {
	f := startFake(t, h, OK(), false)
	if err := sendNotice(t, h, f.URL); err != nil {
		return errors.Join(fmt.Errorf("send a notice to a provider answering OK: %v", err), h.leaks("error", err.Error()))
	}
	want := SampleNotice().Text
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return errors.New("SendNotice returned nil but the provider received no request")
	}
	var found bool
	var problems []error
	for _, r := range f.bodies {
		for _, s := range decodedTexts(r.contentType, r.body) {
			found = found || strings.Contains(s, want)
			for _, bad := range []string{"Incident", "Impact", "Acknowledge"} {
				if strings.Contains(s, bad) {
					problems = append(problems, fmt.Errorf("the notice reads as an incident (%q): %q", bad, s))
				}
			}
		}
	}
	if !found {
		problems = append(problems, fmt.Errorf("the provider did not receive the notice's text %q", want))
	}
	return errors.Join(problems...)
}

// checkNoticeErrors: a notice's failures are classified as a message's.
func checkNoticeErrors(t *testing.T, h Harness) error {
	var problems []error
	for _, c := range []struct {
		code      int
		permanent bool
	}{{http.StatusInternalServerError, false}, {http.StatusUnauthorized, true}} {
		f := startFake(t, h, Status(c.code, ""), false)
		err := sendNotice(t, h, f.URL)
		if err == nil {
			problems = append(problems, fmt.Errorf("a notice answered %d: no error", c.code))
			continue
		}
		if p, _ := notify.Classify(err); p != c.permanent {
			problems = append(problems, fmt.Errorf("a notice answered %d: permanent = %v, want %v (%v)", c.code, p, c.permanent, err))
		}
		problems = append(problems, h.leaks("error", err.Error()))
	}
	return errors.Join(problems...)
}
