// Package apptest starts a real tocsin server (app.New and Serve on
// 127.0.0.1:0, a real database) whose channels talk to local fakes: a
// Slack Web API, an SMTP mailbox and a webhook sink. Scenario tests of any
// package import it, seed, fire an alert and expect the message.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/config"
)

// The credentials Start configures.
const (
	// IngestToken is the integration token senders use.
	IngestToken = "ingest-secret-token"
	// APIToken is the API token (Get and Put send it).
	APIToken = "api-secret-token"
	// SigningSecret is Slack's signing secret for interactivity requests.
	SigningSecret = "slack-signing-secret"
)

// Server is a real tocsin server on 127.0.0.1:0 with a temp data
// directory and local fakes for Slack, email and the webhook channel.
type Server struct {
	// URL is the server's base URL, also its public_host.
	URL   string
	App   *app.App
	Slack *FakeSlack
	Sink  *Sink
	Mail  *Mailbox
}

// Start runs a server on the database at dbURL (storetest.SQLiteURL,
// storetest.Kinds) with Slack, email and webhook enabled against fakes,
// after mod has changed the configuration and opts the app's options
// (the worker polls every 50ms and retries after 20ms unless they say
// otherwise). The server stops and its database closes when the test
// ends.
func Start(t testing.TB, dbURL string, mod func(*config.Config), opts ...func(*app.Options)) *Server {
	t.Helper()
	s := &Server{Slack: NewFakeSlack(t), Sink: NewSink(t), Mail: NewMailbox(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	cfg := config.Default()
	cfg.PublicHost = s.URL
	cfg.DataDir = t.TempDir()
	cfg.Database = dbURL
	cfg.API.Tokens = []string{APIToken}
	cfg.Ingest.Tokens = []string{IngestToken}
	cfg.Alert.Slack = config.Slack{Enable: true, Token: "xoxb-test", ChannelID: "C0INCIDENT", APIURL: s.Slack.URL + "/api/",
		SigningSecret: SigningSecret, Timeout: config.Duration(2 * time.Second)}
	host, port, _ := net.SplitHostPort(s.Mail.Addr)
	p, _ := strconv.Atoi(port)
	cfg.Alert.Email = config.Email{Enable: true, SMTPHost: host, SMTPPort: p, From: "tocsin@example.com", To: "oncall@example.com", TLS: "none"}
	cfg.Alert.Webhook = config.Webhook{Enable: true, URL: s.Sink.URL + "/hook", Secret: "whsec"}
	if mod != nil {
		mod(cfg)
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		t.Fatal(probs)
	}
	o := app.Options{
		PollInterval: 50 * time.Millisecond,
		Backoff:      func(int, time.Duration, float64) time.Duration { return 20 * time.Millisecond },
	}
	for _, f := range opts {
		f(&o)
	}
	s.App, err = app.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.App.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; s.App.Close() })
	return s
}

// Post sends body to path with token ("" for none) and returns the status
// and the decoded JSON answer.
func (s *Server) Post(t testing.TB, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return Do(t, req)
}

// Get sends a GET with the API token.
func (s *Server) Get(t testing.TB, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+APIToken)
	return Do(t, req)
}

// Put sends a PUT with the API token.
func (s *Server) Put(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("PUT", s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+APIToken)
	return Do(t, req)
}

// Send sends a request of any method with the API token and body (none
// when ""), and returns the status and the decoded JSON answer.
func (s *Server) Send(t testing.TB, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+APIToken)
	return Do(t, req)
}

// PostRaw posts body to path without credentials and returns the status
// and the raw answer.
func (s *Server) PostRaw(t testing.TB, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Do sends req and returns the status and the decoded JSON answer (nil
// when it is not JSON).
func Do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// Incident reads an incident from the server's store.
func (s *Server) Incident(t testing.TB, id string) *tocsin.Incident {
	t.Helper()
	inc, err := s.App.Store().Incidents().FindIncident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// IncidentCount returns how many incidents the API lists.
func (s *Server) IncidentCount(t testing.TB) int {
	t.Helper()
	status, list := s.Get(t, "/api/v1/incidents")
	incidents, ok := list["incidents"].([]any)
	if status != http.StatusOK || !ok {
		t.Fatalf("list incidents: %d %v", status, list)
	}
	return len(incidents)
}

// Metrics returns the text of the server's /metrics.
func (s *Server) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// AMPayload is an Alertmanager webhook (v4) for group with one alert per
// fingerprint, all with status ("firing" or "resolved").
func AMPayload(group, status string, fingerprints ...string) string {
	var alerts []string
	for _, fp := range fingerprints {
		alerts = append(alerts, fmt.Sprintf(`{"status":%q,"labels":{"alertname":"HighLatency","instance":%q,"severity":"critical"},
			"annotations":{"summary":"Latency high on %s","runbook_url":"https://runbooks.example.com/latency"},
			"startsAt":"2026-11-21T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":%q}`,
			status, fp, fp, fp))
	}
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"status":%q,"receiver":"tocsin","groupLabels":{"alertname":"HighLatency"},
		"commonLabels":{"alertname":"HighLatency","severity":"critical"},"commonAnnotations":{},"externalURL":"http://alertmanager",
		"truncatedAlerts":0,"alerts":[%s]}`, group, status, strings.Join(alerts, ","))
}

// FirstID is the first incident id of an intake answer.
func FirstID(t testing.TB, body map[string]any) string {
	t.Helper()
	ids, _ := body["incident_ids"].([]any)
	if len(ids) == 0 {
		t.Fatalf("no incident id in %v", body)
	}
	return ids[0].(string)
}
