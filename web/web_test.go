package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
)

var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fakeStore holds one incident and records acknowledgements.
type fakeStore struct {
	inc   *tocsin.Incident
	acked []string // id/name/via
}

func (f *fakeStore) FindIncident(ctx context.Context, id string) (*tocsin.Incident, error) {
	if f.inc == nil || f.inc.ID != id {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %s not found", id)
	}
	c := *f.inc
	return &c, nil
}

func (f *fakeStore) Acknowledge(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	f.acked = append(f.acked, id+"/"+by.Name+"/"+by.Via)
	changed := f.inc.Status == tocsin.StatusTriggered
	if changed {
		f.inc.Status, f.inc.AckedBy = tocsin.StatusAcknowledged, by.Name
	}
	c := *f.inc
	return &c, changed, nil
}

type env struct {
	h     http.Handler
	st    *fakeStore
	acks  *AckSigner
	clock time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: epoch}
	e.st = &fakeStore{inc: &tocsin.Incident{ID: "inc_1", Title: "<b>disk</b> full", Status: tocsin.StatusTriggered, Impact: 2, CreatedAt: epoch}}
	e.acks = &AckSigner{Key: []byte("k"), PublicHost: "https://tocsin.example.com/", TTL: time.Hour, Now: func() time.Time { return e.clock }}
	m := http.NewServeMux()
	New(e.st, Options{Acks: e.acks}).Register(m)
	e.h = m
	return e
}

// path returns the path and query of a signed link.
func path(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func (e *env) do(method, target, form string) (int, string, http.Header) {
	req := httptest.NewRequest(method, target, strings.NewReader(form))
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestAckLinkRefused(t *testing.T) {
	e := newEnv(t)
	good := path(t, e.acks.URL("inc_1"))
	tests := []struct {
		name, target string
		status       int
		says         string
	}{
		{"no signature", "/api/ack/inc_1", http.StatusUnauthorized, "incomplete or invalid"},
		{"forged signature", strings.Replace(good, "sig=", "sig=00", 1), http.StatusUnauthorized, "link is invalid"},
		{"another incident's link", strings.Replace(good, "inc_1", "inc_2", 1), http.StatusUnauthorized, "link is invalid"},
		{"a view link", strings.Replace(path(t, e.acks.ViewURL("inc_1")), "/incidents/", "/api/ack/", 1), http.StatusUnauthorized, "link is invalid"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			code, body, _ := e.do(method, tt.target, "name=mallory")
			if code != tt.status || !strings.Contains(body, tt.says) {
				t.Errorf("%s %s: %d, want %d saying %q: %s", method, tt.name, code, tt.status, tt.says, body)
			}
		}
	}
	e.clock = epoch.Add(2 * time.Hour)
	if code, body, _ := e.do(http.MethodPost, good, "name=late"); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d %s, want 403", code, body)
	}
	if len(e.st.acked) != 0 {
		t.Fatalf("refused links acknowledged: %v", e.st.acked)
	}
}

func TestAckLinkAcknowledgesOnlyOnPost(t *testing.T) {
	e := newEnv(t)
	link := path(t, e.acks.URL("inc_1"))
	code, body, hdr := e.do(http.MethodGet, link, "")
	if code != http.StatusOK || !strings.Contains(body, "Acknowledge incident?") || !strings.Contains(body, "&lt;b&gt;disk&lt;/b&gt; full") {
		t.Fatalf("GET: %d %s", code, body)
	}
	if hdr.Get("Cache-Control") != "no-store" || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("page headers: %v", hdr)
	}
	if code, _, _ := e.do(http.MethodHead, link, ""); code != http.StatusOK {
		t.Fatalf("HEAD: %d", code)
	}
	if len(e.st.acked) != 0 {
		t.Fatalf("GET or HEAD acknowledged: %v", e.st.acked)
	}
	code, body, _ = e.do(http.MethodPost, link, "name="+url.QueryEscape(" ada\x07 "))
	if code != http.StatusOK || !strings.Contains(body, "The incident is acknowledged") {
		t.Fatalf("POST: %d %s", code, body)
	}
	if !slices.Equal(e.st.acked, []string{"inc_1/ada/ack link"}) {
		t.Fatalf("acked %v", e.st.acked)
	}
	if code, body, _ := e.do(http.MethodPost, link, "name=bob"); code != http.StatusOK || !strings.Contains(body, "Acknowledged by ada") {
		t.Fatalf("second POST: %d %s", code, body)
	}
}

func TestIncidentPage(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.do(http.MethodGet, path(t, e.acks.ViewURL("inc_1")), "")
	if code != http.StatusOK || !strings.Contains(body, "&lt;b&gt;disk&lt;/b&gt; full") || strings.Contains(body, "<form") {
		t.Fatalf("view page: %d %s", code, body)
	}
	// An acknowledgement link does not open the page, and no link opens a
	// page of an incident that is not there.
	if code, _, _ := e.do(http.MethodGet, strings.Replace(path(t, e.acks.URL("inc_1")), "/api/ack/", "/incidents/", 1), ""); code != http.StatusUnauthorized {
		t.Fatalf("ack link on the view page: %d, want 401", code)
	}
	if code, _, _ := e.do(http.MethodGet, path(t, e.acks.ViewURL("inc_404")), ""); code != http.StatusNotFound {
		t.Fatalf("missing incident: %d, want 404", code)
	}
}

func TestPagesWithoutSigner(t *testing.T) {
	m := http.NewServeMux()
	New(&fakeStore{}, Options{}).Register(m)
	for _, target := range []string{"/api/ack/inc_1?exp=1&sig=x", "/incidents/inc_1?exp=1&sig=x"} {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not configured") {
			t.Errorf("%s: %d %s, want 503 not configured", target, rec.Code, rec.Body)
		}
	}
}
