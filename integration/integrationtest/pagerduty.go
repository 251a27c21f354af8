package integrationtest

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"unicode/utf8"
)

// PagerDuty is a fake of PagerDuty's Events API v2: POST /v2/enqueue. It
// validates events as PagerDuty does (400 "invalid event" with a list of
// errors), answers 202 with the dedup_key, and tracks each alert's state
// by routing key and dedup key. Any routing key is accepted. It is safe for
// concurrent use.
type PagerDuty struct {
	// URL is the API base to configure (pagerduty.api_url).
	URL string

	base
	mu     sync.Mutex
	events []PagerDutyEvent
	state  map[[2]string]string
}

// PagerDutyEvent is one accepted event.
type PagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	// Payload is set on trigger events.
	Payload   *PagerDutyPayload `json:"payload"`
	Links     []PagerDutyLink   `json:"links"`
	Client    string            `json:"client"`
	ClientURL string            `json:"client_url"`
	// Raw is the request body as received.
	Raw json.RawMessage `json:"-"`
}

// PagerDutyPayload is a trigger event's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// PagerDutyLink is one of an event's links.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// NewPagerDuty starts a PagerDuty Events API v2 fake that lives until t ends.
func NewPagerDuty(t testing.TB) *PagerDuty {
	t.Helper()
	p := &PagerDuty{state: map[[2]string]string{}}
	p.start(t, p.serve, writePagerDutyError)
	p.URL = p.srv.URL
	return p
}

// Events returns the accepted events, in order.
func (p *PagerDuty) Events() []PagerDutyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PagerDutyEvent(nil), p.events...)
}

// Status returns the state of the alert routingKey/dedupKey: "triggered",
// "acknowledged", "resolved", or "" when no event named it.
func (p *PagerDuty) Status(routingKey, dedupKey string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[[2]string{routingKey, dedupKey}]
}

// FailNext makes the next n requests fail with f.
func (p *PagerDuty) FailNext(n int, f Fault) { p.failNext(n, f) }

// ClearFaults drops faults not yet used.
func (p *PagerDuty) ClearFaults() { p.clearFaults() }

// Requests counts every request received, faults included.
func (p *PagerDuty) Requests() int { return p.count() }

func (p *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/enqueue" {
		writePagerDutyError(w, Fault{Status: http.StatusNotFound, Message: "Not found"})
		return
	}
	if r.Method != http.MethodPost {
		writePagerDutyError(w, Fault{Status: http.StatusMethodNotAllowed, Message: "Method not allowed"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	var ev PagerDutyEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"Invalid JSON"}})
		return
	}
	ev.Raw = body
	if errs := validatePagerDuty(&ev); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	if ev.DedupKey == "" {
		// PagerDuty generates one for a trigger without a dedup_key.
		ev.DedupKey = randomHex(16)
	}
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.state[[2]string{ev.RoutingKey, ev.DedupKey}] = map[string]string{"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}[ev.EventAction]
	p.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// validatePagerDuty returns the errors PagerDuty would list for ev.
func validatePagerDuty(ev *PagerDutyEvent) []string {
	var errs []string
	if ev.RoutingKey == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	}
	if utf8.RuneCountInString(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is too long (max 255)")
	}
	switch ev.EventAction {
	case "trigger":
		pl := ev.Payload
		if pl == nil {
			return append(errs, "'payload' is missing or blank")
		}
		if pl.Summary == "" {
			errs = append(errs, "'payload.summary' is missing or blank")
		} else if utf8.RuneCountInString(pl.Summary) > 1024 {
			errs = append(errs, "'payload.summary' is too long (max 1024)")
		}
		if pl.Source == "" {
			errs = append(errs, "'payload.source' is missing or blank")
		}
		switch pl.Severity {
		case "critical", "error", "warning", "info":
		default:
			errs = append(errs, "'payload.severity' must be one of critical, error, warning, info")
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' must be one of trigger, acknowledge, resolve")
	}
	return errs
}

func writePagerDutyError(w http.ResponseWriter, f Fault) {
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	status := "error"
	if f.Status == http.StatusBadRequest {
		status = "invalid event"
	}
	body := map[string]any{"status": status, "message": msg}
	if f.Code != "" {
		body["errors"] = []string{f.Code}
	}
	writeJSON(w, f.Status, body)
}
