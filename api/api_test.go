package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
)

const apiToken = "api-token"

// incidentStore is a fake Store whose methods record their calls.
type incidentStore struct {
	calls  []string
	filter tocsin.IncidentFilter
	ready  error
}

func (f *incidentStore) FindIncident(ctx context.Context, id string) (*tocsin.Incident, error) {
	f.calls = append(f.calls, "find "+id)
	if id != "inc_1" {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %s not found", id)
	}
	return &tocsin.Incident{ID: id, Title: "disk full", Status: tocsin.StatusTriggered}, nil
}

func (f *incidentStore) ListIncidents(ctx context.Context, flt tocsin.IncidentFilter) ([]*tocsin.Incident, string, error) {
	f.calls, f.filter = append(f.calls, "list"), flt
	return []*tocsin.Incident{{ID: "inc_1"}}, "next", nil
}

func (f *incidentStore) Acknowledge(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	f.calls = append(f.calls, "ack "+id+" "+by.Name+" "+by.Via)
	return &tocsin.Incident{ID: id, Status: tocsin.StatusAcknowledged}, true, nil
}

func (f *incidentStore) Resolve(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	f.calls = append(f.calls, "resolve "+id)
	return &tocsin.Incident{ID: id, Status: tocsin.StatusResolved}, true, nil
}

func (f *incidentStore) AddNote(ctx context.Context, id string, by tocsin.Actor, text string) (*tocsin.TimelineEvent, error) {
	f.calls = append(f.calls, "note "+id+" "+text)
	return &tocsin.TimelineEvent{Message: text}, nil
}

func (f *incidentStore) Redeliver(ctx context.Context, id, channel string, by tocsin.Actor) (int, error) {
	f.calls = append(f.calls, "redeliver "+id+" "+channel)
	return 1, nil
}

func (f *incidentStore) Ready(ctx context.Context) error { return f.ready }

func newAPI(st *incidentStore) http.Handler {
	return serve(New(st, Options{Tokens: Tokens{Clear: []string{apiToken}}, Health: st, Now: func() time.Time { return oncallEpoch }}))
}

func request(h http.Handler, method, path, token, body string) (int, map[string]any, http.Header) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, rec.Header()
}

func errorOf(body map[string]any) (code, message string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

func TestIncidentAPIRefusesWithoutToken(t *testing.T) {
	st := &incidentStore{}
	h := newAPI(st)
	for _, rt := range [][2]string{{"GET", "/api/v1/incidents"}, {"GET", "/api/v1/incidents/inc_1"}, {"POST", "/api/v1/incidents/inc_1/acknowledge"},
		{"POST", "/api/v1/incidents/inc_1/resolve"}, {"POST", "/api/v1/incidents/inc_1/notes"}, {"POST", "/api/v1/incidents/inc_1/redeliver"}} {
		for _, token := range []string{"", "wrong", strings.ToUpper(apiToken)} {
			code, body, hdr := request(h, rt[0], rt[1], token, "")
			if c, _ := errorOf(body); code != http.StatusUnauthorized || c != tocsin.EUNAUTHORIZED || !strings.Contains(hdr.Get("WWW-Authenticate"), "tocsin-api") {
				t.Errorf("%s %s token %q: %d %v", rt[0], rt[1], token, code, body)
			}
		}
	}
	if len(st.calls) != 0 {
		t.Fatalf("refused requests reached the store: %v", st.calls)
	}
}

func TestTokensMatch(t *testing.T) {
	tokens := Tokens{Clear: []string{"", "configured"}, Hashes: []string{"", hashOf("generated")}}
	for tok, want := range map[string]bool{"configured": true, "generated": true, "": false, "other": false, hashOf("generated"): false} {
		if got := tokens.Match(tok); got != want {
			t.Errorf("Match(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestIncidentAPIHappyPath(t *testing.T) {
	st := &incidentStore{}
	h := newAPI(st)
	code, body, _ := request(h, "GET", "/api/v1/incidents?status=open&impact=1,2&limit=10", apiToken, "")
	if code != http.StatusOK || body["next_cursor"] != "next" || len(body["incidents"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if !slices.Equal(st.filter.Status, []string{tocsin.StatusTriggered, tocsin.StatusAcknowledged}) || !slices.Equal(st.filter.Impact, []int{1, 2}) || st.filter.Limit != 10 {
		t.Errorf("filter = %+v", st.filter)
	}
	code, body, _ = request(h, "POST", "/api/v1/incidents/inc_1/acknowledge", apiToken, `{"by":"ada\u0007"}`)
	if code != http.StatusOK || body["changed"] != true {
		t.Fatalf("acknowledge: %d %v", code, body)
	}
	if code, _, _ := request(h, "POST", "/api/v1/incidents/inc_1/notes", apiToken, `{"text":"on it"}`); code != http.StatusCreated {
		t.Fatalf("note: %d", code)
	}
	if code, body, _ := request(h, "POST", "/api/v1/incidents/inc_1/redeliver", apiToken, `{"channel":"slack"}`); code != http.StatusAccepted || body["requeued"] != 1.0 {
		t.Fatalf("redeliver: %d %v", code, body)
	}
	want := []string{"list", "ack inc_1 ada api", "note inc_1 on it", "redeliver inc_1 slack"}
	if !slices.Equal(st.calls, want) {
		t.Fatalf("calls = %q, want %q", st.calls, want)
	}
}

func TestIncidentAPIBadInput(t *testing.T) {
	st := &incidentStore{}
	h := newAPI(st)
	tests := []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"GET", "/api/v1/incidents?status=bogus", "", 400, "status:"},
		{"GET", "/api/v1/incidents?impact=9", "", 400, "impact:"},
		{"GET", "/api/v1/incidents?since=yesterday", "", 400, "since:"},
		{"GET", "/api/v1/incidents?limit=0", "", 400, "limit:"},
		{"POST", "/api/v1/incidents/inc_1/acknowledge", `{"by":"ada","extra":1}`, 400, "extra"},
		{"POST", "/api/v1/incidents/inc_1/notes", `{"text":1}`, 400, "text: must be a string"},
		{"POST", "/api/v1/incidents/inc_1/notes", `{"text":"a"} {}`, 400, "trailing data"},
		{"POST", "/api/v1/incidents/inc_1/redeliver", `{"channel":"a:b"}`, 400, "channel:"},
		{"GET", "/api/v1/incidents/inc_2", "", 404, "not found"},
		{"GET", "/api/v1/nothing-here", "", 404, "no route for GET /api/v1/nothing-here"},
	}
	for _, tt := range tests {
		code, body, hdr := request(h, tt.method, tt.path, apiToken, tt.body)
		if _, msg := errorOf(body); code != tt.status || !strings.Contains(msg, tt.says) {
			t.Errorf("%s %s: %d %v, want %d saying %q", tt.method, tt.path, code, body, tt.status, tt.says)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: headers %v", tt.method, tt.path, hdr)
		}
	}
	if !slices.Equal(st.calls, []string{"find inc_2"}) {
		t.Fatalf("bad input reached the store: %v", st.calls)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	st := &incidentStore{}
	h := newAPI(st)
	if code, body, _ := request(h, "GET", "/healthz", "", ""); code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if code, body, _ := request(h, "GET", "/readyz", "", ""); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("readyz: %d %v", code, body)
	}
	st.ready = errors.New("disk full")
	code, body, hdr := request(h, "GET", "/readyz", "", "")
	if c, msg := errorOf(body); code != http.StatusServiceUnavailable || c != tocsin.EUNAVAILABLE || hdr.Get("Retry-After") != "5" || strings.Contains(msg, "disk full") {
		t.Fatalf("readyz when the store cannot commit: %d %v %v", code, body, hdr)
	}
}

func TestStatusTable(t *testing.T) {
	for code, want := range map[string]int{
		tocsin.EINVALID: 400, tocsin.EUNAUTHORIZED: 401, tocsin.EFORBIDDEN: 403, tocsin.ENOTFOUND: 404, tocsin.ECONFLICT: 409,
		tocsin.ETOOLARGE: 413, tocsin.EINTERNAL: 500, tocsin.ENOTIMPLEMENTED: 501, tocsin.EUNAVAILABLE: 503, "made-up": 500,
	} {
		if got := StatusCode(code); got != want {
			t.Errorf("StatusCode(%q) = %d, want %d", code, got, want)
		}
	}
	rec := httptest.NewRecorder()
	Error(rec, httptest.NewRequest("GET", "/", nil), errors.New("db password=hunter2 rejected"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("an internal error is shown generically: %d %s", rec.Code, rec.Body)
	}
}

func TestMetricsHandlerToken(t *testing.T) {
	m := NewMetrics(queueStats{}, time.Now)
	for token, want := range map[string]int{"": 401, "wrong": 401, "scrape": 200} {
		code, _, _ := request(MetricsHandler(m, "scrape"), "GET", "/metrics", token, "")
		if code != want {
			t.Errorf("token %q: %d, want %d", token, code, want)
		}
	}
	if code, _, _ := request(MetricsHandler(m, ""), "GET", "/metrics", "", ""); code != 200 {
		t.Errorf("without metrics.token: %d, want 200", code)
	}
}

// hashOf is store.TokenHash: the hex SHA-256 of a token.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

type queueStats struct{}

func (queueStats) PendingJobs(context.Context) (int, error)         { return 0, nil }
func (queueStats) NextDue(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }
