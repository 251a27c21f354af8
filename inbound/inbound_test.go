package inbound

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/api"
)

const intakeToken = "intake-token"

var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fakeStore records what the webhooks ask of the store.
type fakeStore struct {
	ingested []*tocsin.Alert
	opts     tocsin.IngestOptions
	acked    []string // incident id/actor name/via
	pageAcks []string // page id/via
	receipts []string // provider/ref/kind
	pages    map[string]*tocsin.Page
}

func (f *fakeStore) Ingest(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) ([]tocsin.IngestResult, error) {
	f.ingested, f.opts = append(f.ingested, alerts...), opts
	out := make([]tocsin.IngestResult, len(alerts))
	for i := range alerts {
		out[i] = tocsin.IngestResult{IncidentID: "inc_1", Created: true}
	}
	return out, nil
}

func (f *fakeStore) Acknowledge(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	f.acked = append(f.acked, id+"/"+by.Name+"/"+by.Via)
	return &tocsin.Incident{ID: id}, true, nil
}

func (f *fakeStore) FindPageByReply(ctx context.Context, address, code string) (*tocsin.Page, error) {
	if p := f.pages[address+"/"+code]; p != nil {
		return p, nil
	}
	return nil, tocsin.Errorf(tocsin.ENOTFOUND, "no page")
}

func (f *fakeStore) AcknowledgePage(ctx context.Context, pageID, via string) (*tocsin.PageAck, error) {
	f.pageAcks = append(f.pageAcks, pageID+"/"+via)
	return &tocsin.PageAck{Stopped: true}, nil
}

func (f *fakeStore) PageReceipt(ctx context.Context, provider, ref, kind, detail string) error {
	f.receipts = append(f.receipts, provider+"/"+ref+"/"+kind)
	return nil
}

// newServer serves the webhooks over a fake store, with mods applied to
// the options.
func newServer(t *testing.T, mods ...func(*Options)) (http.Handler, *fakeStore) {
	t.Helper()
	st := &fakeStore{pages: map[string]*tocsin.Page{}}
	opts := Options{
		Tokens:    api.Tokens{Clear: []string{intakeToken}},
		Overrides: Overrides{Channels: map[string]bool{"slack": true}},
		Now:       func() time.Time { return epoch },
	}
	for _, mod := range mods {
		mod(&opts)
	}
	m := http.NewServeMux()
	New(st, opts).Register(m)
	return m, st
}

func do(h http.Handler, req *http.Request) (int, map[string]any, http.Header) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body, rec.Header()
}

func post(path, token, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestIntakeRefusesWithoutToken(t *testing.T) {
	h, st := newServer(t)
	for _, path := range []string{"/api/v1/alerts/generic", "/api/incidents"} {
		for _, token := range []string{"", "wrong"} {
			code, body, hdr := do(h, post(path, token, `{"title":"disk full"}`))
			if code != http.StatusUnauthorized || errorCode(body) != tocsin.EUNAUTHORIZED || !strings.Contains(hdr.Get("WWW-Authenticate"), "tocsin-ingest") {
				t.Errorf("%s token %q: %d %v %v, want 401 unauthorized with a challenge", path, token, code, body, hdr)
			}
		}
	}
	if len(st.ingested) != 0 {
		t.Fatalf("refused requests were ingested: %v", st.ingested)
	}
}

func TestIntakeAcceptsTokenHashAndOpen(t *testing.T) {
	sum := sha256.Sum256([]byte("generated"))
	h, _ := newServer(t, func(o *Options) { o.Tokens = api.Tokens{Hashes: []string{hex.EncodeToString(sum[:])}} })
	if code, body, _ := do(h, post("/api/v1/alerts/generic", "generated", `{"title":"x"}`)); code != http.StatusCreated {
		t.Fatalf("generated token: %d %v", code, body)
	}
	h, _ = newServer(t, func(o *Options) { o.Tokens, o.Open = api.Tokens{}, true })
	if code, body, _ := do(h, post("/api/incidents", "", `{"title":"x"}`)); code != http.StatusCreated {
		t.Fatalf("open intake: %d %v", code, body)
	}
}

func TestIntakeHappyPathWithIgnoredParameter(t *testing.T) {
	h, st := newServer(t)
	code, body, _ := do(h, post("/api/v1/alerts/generic?bogus=1&token="+intakeToken, "", `{"title":"disk full","severity":"critical"}`))
	if code != http.StatusCreated {
		t.Fatalf("intake: %d %v", code, body)
	}
	if ids, _ := body["incident_ids"].([]any); len(ids) != 1 || ids[0] != "inc_1" {
		t.Errorf("incident_ids = %v", body["incident_ids"])
	}
	// A parameter that cannot be honoured never refuses the alert.
	if w, _ := body["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "bogus: unknown query parameter") {
		t.Errorf("warnings = %v", body["warnings"])
	}
	if len(st.ingested) != 1 || st.ingested[0].Title != "disk full" || st.ingested[0].Source != tocsin.SourceGeneric {
		t.Fatalf("ingested %+v", st.ingested)
	}
	if len(st.opts.Warnings) != 1 {
		t.Errorf("the warning does not reach the timeline: %v", st.opts.Warnings)
	}
}

func TestIntakeBadInput(t *testing.T) {
	h, st := newServer(t, func(o *Options) { o.MaxBodyBytes = 64 })
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown source", "/api/v1/alerts/nagios", `{"title":"x"}`, http.StatusNotFound, tocsin.ENOTFOUND},
		{"empty body", "/api/v1/alerts/generic", ``, http.StatusBadRequest, tocsin.EINVALID},
		{"not JSON", "/api/v1/alerts/alertmanager", `{"alerts":`, http.StatusBadRequest, tocsin.EINVALID},
		{"too large", "/api/v1/alerts/generic", `{"title":"` + strings.Repeat("x", 100) + `"}`, http.StatusRequestEntityTooLarge, tocsin.ETOOLARGE},
	}
	for _, tt := range tests {
		code, body, _ := do(h, post(tt.path, intakeToken, tt.body))
		if code != tt.status || errorCode(body) != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, code, body, tt.status, tt.code)
		}
	}
	if len(st.ingested) != 0 {
		t.Fatalf("bad input was ingested: %v", st.ingested)
	}
}

func TestPagerDutyRoutingKey(t *testing.T) {
	h, st := newServer(t)
	event := func(key string) string {
		return `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"db-1","payload":{"summary":"db down","source":"db","severity":"critical"}}`
	}
	code, body, _ := do(h, post("/v2/enqueue", "", event("not-a-token")))
	if code != http.StatusBadRequest || body["status"] != "invalid event" {
		t.Fatalf("unknown routing key: %d %v, want PagerDuty's 400 invalid event", code, body)
	}
	if len(st.ingested) != 0 {
		t.Fatal("an event with an unknown routing key was ingested")
	}
	code, body, _ = do(h, post("/v2/enqueue", "", event(intakeToken)))
	if code != http.StatusAccepted || body["status"] != "success" || body["dedup_key"] != "db-1" {
		t.Fatalf("valid event: %d %v", code, body)
	}
	code, body, _ = do(h, post("/api/v1/alerts/pagerduty", "", `{"routing_key":"`+intakeToken+`","event_action":"explode"}`))
	if code != http.StatusBadRequest || body["status"] != "invalid event" || len(body["errors"].([]any)) == 0 {
		t.Fatalf("invalid event: %d %v", code, body)
	}
}

func slackRequest(secret string, now time.Time, payload string) *http.Request {
	body := "payload=" + url.QueryEscape(payload)
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	req := post("/api/v1/slack/interactions", "", body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req
}

func TestSlackInteraction(t *testing.T) {
	const click = `{"type":"block_actions","user":{"id":"U1","username":"ada\u0007"},"actions":[{"action_id":"tocsin_ack","value":"inc_9"}]}`
	h, st := newServer(t)
	if code, body, _ := do(h, slackRequest("secret", epoch, click)); code != http.StatusNotFound {
		t.Fatalf("without a signing secret: %d %v, want 404", code, body)
	}
	h, st = newServer(t, func(o *Options) { o.SlackSigningSecret = "secret" })
	if code, body, _ := do(h, slackRequest("other", epoch, click)); code != http.StatusUnauthorized || errorCode(body) != tocsin.EUNAUTHORIZED {
		t.Fatalf("wrong signature: %d %v, want 401", code, body)
	}
	if code, body, _ := do(h, slackRequest("secret", epoch.Add(-time.Hour), click)); code != http.StatusUnauthorized {
		t.Fatalf("replayed request: %d %v, want 401", code, body)
	}
	if len(st.acked) != 0 {
		t.Fatalf("refused requests acknowledged: %v", st.acked)
	}
	if code, body, _ := do(h, slackRequest("secret", epoch, `{"type":"block_actions","actions":[{"action_id":"tocsin_ack","value":""}]}`)); code != http.StatusBadRequest {
		t.Fatalf("action without an incident: %d %v, want 400", code, body)
	}
	if code, _, _ := do(h, slackRequest("secret", epoch, click)); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	if !slices.Equal(st.acked, []string{"inc_9/ada/slack"}) {
		t.Fatalf("acknowledged %v, want inc_9 by ada (control characters dropped) via slack", st.acked)
	}
}

// twilioRequest signs a form as Twilio does for the URL it called.
func twilioRequest(token, publicURL, path string, form url.Values) *http.Request {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(publicURL + path))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		mac.Write([]byte(k + form.Get(k)))
	}
	req := post(path, "", form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

func TestTwilioWebhooks(t *testing.T) {
	const host = "https://tocsin.example.com"
	sms := url.Values{"From": {"+15550001111"}, "Body": {"ack 123456"}, "MessageSid": {"SM1"}}
	h, _ := newServer(t)
	if code, _, _ := do(h, twilioRequest("tw", host, "/api/v1/twilio/sms", sms)); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Fatalf("without an auth token the webhooks are off: %d", code)
	}
	h, st := newServer(t, func(o *Options) { o.TwilioAuthToken, o.PublicHost = "tw", host+"/" })
	st.pages["+15550001111/123456"] = &tocsin.Page{ID: "page_1"}
	if code, body, _ := do(h, twilioRequest("other", host, "/api/v1/twilio/sms", sms)); code != http.StatusUnauthorized || errorCode(body) != tocsin.EUNAUTHORIZED {
		t.Fatalf("bad signature: %d %v, want 401", code, body)
	}
	if len(st.pageAcks) != 0 {
		t.Fatal("an unsigned reply acknowledged a page")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, twilioRequest("tw", host, "/api/v1/twilio/sms", sms))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "escalation has stopped") {
		t.Fatalf("signed reply: %d %s", rec.Code, rec.Body)
	}
	if !slices.Equal(st.pageAcks, []string{"page_1/sms"}) {
		t.Fatalf("page acks = %v", st.pageAcks)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, twilioRequest("tw", host, "/api/v1/twilio/sms", url.Values{"From": {"+15550001111"}, "Body": {"hello"}}))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "6-digit code") || len(st.pageAcks) != 1 {
		t.Fatalf("reply without a code: %d %s, acks %v", rec.Code, rec.Body, st.pageAcks)
	}
	if code, _, _ := do(h, twilioRequest("tw", host, "/api/v1/twilio/status", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}})); code != http.StatusNoContent {
		t.Fatalf("status: %d", code)
	}
	if !slices.Equal(st.receipts, []string{"twilio/SM1/" + tocsin.PageDelivered}) {
		t.Fatalf("receipts = %v", st.receipts)
	}
}

func TestSNSPathTrustedOnlyWhenVerifiedAndPinned(t *testing.T) {
	tests := []struct {
		sns  SNS
		want bool
	}{
		{SNS{Path: "/sns", PathTopics: []string{"arn:aws:sns:eu-west-1:1:t"}}, false},
		{SNS{Path: "/sns", PathTopics: []string{""}}, false},
	}
	for _, tt := range tests {
		s := New(&fakeStore{}, Options{SNS: tt.sns})
		if got := s.snsPathTrusted(); got != tt.want {
			t.Errorf("%+v: trusted = %v, want %v", tt.sns, got, tt.want)
		}
	}
	// Untrusted, the SNS path asks for an integration token.
	h, _ := newServer(t, func(o *Options) { o.SNS = SNS{Path: "/sns", PathTopics: []string{"arn:aws:sns:eu-west-1:1:t"}} })
	if code, body, _ := do(h, post("/sns", "", `{}`)); code != http.StatusUnauthorized {
		t.Fatalf("unverified SNS path without a token: %d %v, want 401", code, body)
	}
}
