package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/notifytest"
	"tocsin/notify/webhook"
)

const (
	secret   = "whsec-0123456789"
	urlToken = "urltoken-abcdef"
	password = "basicpass-xyz"
)

func newChannel(t *testing.T, rawURL string, mod func(*config.Webhook), opts webhook.Options) *webhook.Channel {
	t.Helper()
	cfg := config.Webhook{
		URL:     rawURL,
		Secret:  secret,
		Headers: map[string]string{"X-Team": "sre", "X-Tocsin-Event": "spoofed", "Content-Type": "text/plain"},
		Timeout: config.Duration(300 * time.Millisecond),
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := webhook.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// withSecrets puts a password and a token into the URL, as users do.
func withSecrets(base string) string {
	return strings.Replace(base, "http://", "http://user:"+password+"@", 1) + "/hooks/x?token=" + urlToken
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, withSecrets(baseURL), nil, webhook.Options{})
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{secret, urlToken, password},
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if err := webhook.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
				t.Errorf("signature: %v", err)
			}
		},
	})
}

func TestRequest(t *testing.T) {
	var (
		mu   sync.Mutex
		got  *http.Request
		body []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	now := time.Unix(1772369701, 0)
	ch := newChannel(t, withSecrets(srv.URL), nil, webhook.Options{Now: func() time.Time { return now }})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Raw = json.RawMessage(`{"raw":true}`)
	ref, err := ch.Send(context.Background(), msg)
	if err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	mu.Lock()
	defer mu.Unlock()

	if got.Method != http.MethodPost || got.URL.Path != "/hooks/x" || got.URL.Query().Get("token") != urlToken {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	if u, p, ok := got.BasicAuth(); !ok || u != "user" || p != password {
		t.Errorf("basic auth from the URL not sent")
	}
	wantHeaders := map[string]string{
		"Content-Type":       "application/json",
		"User-Agent":         "tocsin",
		"X-Tocsin-Event":     "opened",
		"X-Tocsin-Delivery":  "dlv_01",
		"X-Tocsin-Timestamp": "1772369701",
		"X-Tocsin-Signature": webhook.Sign(secret, 1772369701, body),
		"X-Team":             "sre",
	}
	for k, v := range wantHeaders {
		if got.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
	if err := webhook.Verify(secret, got.Header, body, now.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// The documented schema, exactly.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(doc))
	want := "ack_url alert delivery_id event incident incident_url sent_at version"
	if strings.Join(keys, " ") != want {
		t.Errorf("top-level keys = %v, want %s", keys, want)
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "1" || p.Event != "opened" || p.DeliveryID != "dlv_01" || p.SentAt != "2026-03-01T12:35:01Z" ||
		p.AckURL != msg.AckURL || p.IncidentURL != msg.IncidentURL || p.Incident.ID != "inc_01" || p.Alert.ID != "al_01" {
		t.Errorf("payload = %+v", p)
	}
	for _, absent := range []string{`"alerts"`, `"timeline"`, `"raw"`} {
		if strings.Contains(string(body), absent) {
			t.Errorf("body contains %s: %s", absent, body)
		}
	}
	// The message is not modified.
	if len(msg.Incident.Alerts) != 1 || msg.Alert.Raw == nil {
		t.Error("message modified")
	}
}

func TestNullAlertAndNoSecret(t *testing.T) {
	var body []byte
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		sig = r.Header.Get("X-Tocsin-Signature")
	}))
	defer srv.Close()
	ch := newChannel(t, srv.URL, func(c *config.Webhook) { c.Secret = "" }, webhook.Options{})
	msg := notifytest.SampleMessage(notify.EventAcknowledged)
	msg.Alert = nil
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"alert":null`) || !strings.Contains(string(body), `"ack_url":""`) {
		t.Errorf("body = %s", body)
	}
	if sig != "" {
		t.Errorf("signature sent without a secret: %q", sig)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	_, err := newChannel(t, srv.URL, nil, webhook.Options{}).Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || !permanent || hits != 0 {
		t.Fatalf("redirect: err=%v permanent=%v hits=%d", err, permanent, hits)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []config.Webhook{
		{},
		{URL: "ftp://x/?token=" + urlToken},
		{URL: "/relative?token=" + urlToken},
		{URL: "http://x", Headers: map[string]string{"Bad Name": "v"}},
		{URL: "http://x", Headers: map[string]string{"X-Ok": "a\r\nInjected: 1"}},
	} {
		_, err := webhook.New(cfg, webhook.Options{})
		if err == nil {
			t.Errorf("New(%+v): want error", cfg)
		} else if strings.Contains(err.Error(), urlToken) {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"version":"1"}`)
	now := time.Unix(1700000000, 0)
	header := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set("X-Tocsin-Timestamp", strconv.FormatInt(ts, 10))
		if sig != "" {
			h.Set("X-Tocsin-Signature", sig)
		}
		return h
	}
	good := webhook.Sign(secret, now.Unix(), body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != len("sha256=")+64 {
		t.Fatalf("Sign = %q", good)
	}
	tests := []struct {
		name    string
		secret  string
		header  http.Header
		body    []byte
		now     time.Time
		wantErr bool
	}{
		{"valid", secret, header(now.Unix(), good), body, now, false},
		{"valid within tolerance", secret, header(now.Unix(), good), body, now.Add(4 * time.Minute), false},
		{"too old", secret, header(now.Unix(), good), body, now.Add(6 * time.Minute), true},
		{"from the future", secret, header(now.Unix(), good), body, now.Add(-6 * time.Minute), true},
		{"tampered body", secret, header(now.Unix(), good), []byte(`{"version":"2"}`), now, true},
		{"other timestamp", secret, header(now.Unix()+1, good), body, now, true},
		{"wrong secret", "other", header(now.Unix(), good), body, now, true},
		{"no signature", secret, header(now.Unix(), ""), body, now, true},
		{"no timestamp", secret, http.Header{"X-Tocsin-Signature": {good}}, body, now, true},
		{"empty secret", "", header(now.Unix(), webhook.Sign("", now.Unix(), body)), body, now, true},
	}
	for _, tt := range tests {
		err := webhook.Verify(tt.secret, tt.header, tt.body, tt.now, 0)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
	}
	if err := webhook.Verify(secret, header(now.Unix(), good), body, now.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("custom tolerance: %v", err)
	}
}
