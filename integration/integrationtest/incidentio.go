package integrationtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// IncidentIOAPIKey is the bearer token the incident.io fake accepts by default.
const IncidentIOAPIKey = "incident-io-test-key"

// IncidentIO is a fake of incident.io's HTTP alert sources:
// POST /v2/alert_events/http/{alert_source_config_id} with
// Authorization: Bearer APIKey (401 otherwise). It validates events as
// incident.io does (422 for a missing title or a status other than firing
// or resolved), answers 202, and tracks each alert's status by source and
// deduplication key. Any alert source config ID is accepted. It is safe
// for concurrent use.
type IncidentIO struct {
	// URL is the API base to configure (incident_io.api_url).
	URL string
	// APIKey is the accepted bearer token (IncidentIOAPIKey). Do not change
	// it once requests may arrive.
	APIKey string

	base
	mu     sync.Mutex
	events []IncidentIOEvent
	state  map[[2]string]string
}

// IncidentIOEvent is one accepted alert event.
type IncidentIOEvent struct {
	// AlertSourceConfigID is from the request path.
	AlertSourceConfigID string         `json:"-"`
	Title               string         `json:"title"`
	Description         string         `json:"description"`
	DeduplicationKey    string         `json:"deduplication_key"`
	Status              string         `json:"status"`
	SourceURL           string         `json:"source_url"`
	Metadata            map[string]any `json:"metadata"`
	// Raw is the request body as received.
	Raw json.RawMessage `json:"-"`
}

// NewIncidentIO starts an incident.io alert-source fake that lives until t ends.
func NewIncidentIO(t testing.TB) *IncidentIO {
	t.Helper()
	f := &IncidentIO{APIKey: IncidentIOAPIKey, state: map[[2]string]string{}}
	f.start(t, f.serve, writeIncidentIOError)
	f.URL = f.srv.URL
	return f
}

// Events returns the accepted events, in order.
func (f *IncidentIO) Events() []IncidentIOEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]IncidentIOEvent(nil), f.events...)
}

// Status returns the status of the alert dedupKey at alert source
// sourceID: "firing", "resolved", or "" when no event named it.
func (f *IncidentIO) Status(sourceID, dedupKey string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[[2]string{sourceID, dedupKey}]
}

// FailNext makes the next n requests fail with fault.
func (f *IncidentIO) FailNext(n int, fault Fault) { f.failNext(n, fault) }

// ClearFaults drops faults not yet used.
func (f *IncidentIO) ClearFaults() { f.clearFaults() }

// Requests counts every request received, faults included.
func (f *IncidentIO) Requests() int { return f.count() }

func (f *IncidentIO) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/v2/alert_events/http/")
	if !ok || id == "" || strings.Contains(id, "/") {
		writeIncidentIOError(w, Fault{Status: http.StatusNotFound, Code: "not_found", Message: "route not found"})
		return
	}
	if r.Method != http.MethodPost {
		writeIncidentIOError(w, Fault{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.APIKey {
		writeIncidentIOError(w, Fault{Status: http.StatusUnauthorized, Code: "authentication_error", Message: "The API key provided is invalid"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	var ev IncidentIOEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		writeIncidentIOError(w, Fault{Status: http.StatusBadRequest, Code: "invalid_body", Message: "request body is not valid JSON"})
		return
	}
	ev.AlertSourceConfigID, ev.Raw = id, body
	switch {
	case strings.TrimSpace(ev.Title) == "":
		writeIncidentIOError(w, Fault{Status: http.StatusUnprocessableEntity, Code: "is_required", Message: "title: is required"})
		return
	case ev.Status != "firing" && ev.Status != "resolved":
		writeIncidentIOError(w, Fault{Status: http.StatusUnprocessableEntity, Code: "invalid_value", Message: "status: must be firing or resolved"})
		return
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	if ev.DeduplicationKey != "" {
		f.state[[2]string{id, ev.DeduplicationKey}] = ev.Status
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "success", "message": "Event accepted for processing", "deduplication_key": ev.DeduplicationKey})
}

// writeIncidentIOError answers in incident.io's error dialect.
func writeIncidentIOError(w http.ResponseWriter, f Fault) {
	code := f.Code
	if code == "" {
		code = "server_error"
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	writeJSON(w, f.Status, map[string]any{
		"type": code, "status": f.Status, "request_id": randomHex(8),
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}
