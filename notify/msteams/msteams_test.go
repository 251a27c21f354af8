package msteams_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/msteams"
	"tocsin/notify/notifytest"
)

const (
	workflowID = "wf-s3cret-0a1b2c"
	sig        = "sig-s3cret-Zx9Yw8"
	otherSig   = "sig-other-s3cret-77"
	legacyKey  = "legacy-s3cret-key-0f0f"
)

func workflowPath() string {
	return "/workflows/" + workflowID + "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig
}

// fakeTeams records what it receives and answers 202, as Workflows do.
type fakeTeams struct {
	*httptest.Server
	mu      sync.Mutex
	paths   []string
	hosts   []string
	bodies  []map[string]any
	conns   int
	respond func(w http.ResponseWriter, r *http.Request) bool
}

func newFake(t *testing.T) *fakeTeams {
	t.Helper()
	f := &fakeTeams{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body is not a JSON object: %v", err)
		}
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.RequestURI())
		f.hosts = append(f.hosts, r.Host)
		f.bodies = append(f.bodies, body)
		respond := f.respond
		f.mu.Unlock()
		if respond != nil && respond(w, r) {
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	f.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTeams) last(t *testing.T) (path string, body map[string]any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		t.Fatal("no request received")
	}
	return f.paths[len(f.paths)-1], f.bodies[len(f.bodies)-1]
}

func newChannel(t *testing.T, base string, mod func(*config.MSTeams), opts msteams.Options) *msteams.Channel {
	t.Helper()
	cfg := config.MSTeams{
		PowerAutomateURL: base + workflowPath(),
		OtherPowerURLs:   map[string]string{"dba": base + "/workflows/dba/triggers/manual/paths/invoke?sig=" + otherSig},
		Timeout:          config.Duration(300 * time.Millisecond),
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := msteams.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// routeTo sends every connection to srv, whatever the URL's host, so a
// test can use a real webhook.office.com URL.
func routeTo(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL, nil, msteams.Options{})
		},
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.Method != http.MethodPost || r.URL.RequestURI() != workflowPath() || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request = %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"))
			}
			if !strings.Contains(string(body), `"application/vnd.microsoft.card.adaptive"`) {
				t.Errorf("not an Adaptive Card message: %s", body)
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{workflowID, sig, otherSig},
	})
}

// card digs the Adaptive Card out of a Workflows message.
func card(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	if body["type"] != "message" {
		t.Fatalf("type = %v", body["type"])
	}
	atts, _ := body["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments = %v", body["attachments"])
	}
	att := atts[0].(map[string]any)
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType = %v", att["contentType"])
	}
	if v, ok := att["contentUrl"]; !ok || v != nil {
		t.Errorf("contentUrl = %v, %v; want null", v, ok)
	}
	c := att["content"].(map[string]any)
	if c["type"] != "AdaptiveCard" || c["version"] != "1.4" || c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("card header = %v %v %v", c["type"], c["version"], c["$schema"])
	}
	return c
}

// An Alertmanager incident gets a card with the headline, the facts, the
// text, and the Acknowledge and View incident buttons.
func TestAdaptiveCardAlertmanager(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, msteams.Options{})
	ref, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	path, body := f.last(t)
	if path != workflowPath() {
		t.Errorf("path = %s", path)
	}
	c := card(t, body)
	blocks := c["body"].([]any)
	first := blocks[0].(map[string]any)
	if first["text"] != "🔴 Incident opened: Postgresql down (instance pg-prod-01)" || first["weight"] != "Bolder" {
		t.Errorf("headline = %v", first)
	}
	factSet := blocks[1].(map[string]any)
	raw, _ := json.Marshal(factSet)
	for _, want := range []string{`"type":"FactSet"`, `{"title":"Impact","value":"1 (critical)"}`, `{"title":"Status","value":"triggered"}`, `{"title":"Source","value":"alertmanager"}`, `{"title":"Severity","value":"critical"}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("fact set lacks %s: %s", want, raw)
		}
	}
	all, _ := json.Marshal(blocks[2:])
	for _, want := range []string{"Postgresql instance is down.", "alertname=PostgresqlDown, instance=pg-prod-01", "[Prometheus](http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0)", "[Acknowledge this incident](https://tocsin.example.com/ack/inc_01?exp=1772369700\\u0026sig=abc123)"} {
		if !strings.Contains(string(all), want) {
			t.Errorf("text blocks lack %s: %s", want, all)
		}
	}
	actions, _ := json.Marshal(c["actions"])
	wantActions := `[{"style":"positive","title":"Acknowledge","type":"Action.OpenUrl","url":"https://tocsin.example.com/ack/inc_01?exp=1772369700\u0026sig=abc123"},{"title":"View incident","type":"Action.OpenUrl","url":"https://tocsin.example.com/api/v1/incidents/inc_01"}]`
	if string(actions) != wantActions {
		t.Errorf("actions = %s\nwant      %s", actions, wantActions)
	}
}

// Once acknowledged, there is no Acknowledge button.
func TestAcknowledgedHasNoAckButton(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, msteams.Options{})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventAcknowledged)); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), "Acknowledge this incident") || strings.Contains(string(raw), `"title":"Acknowledge"`) {
		t.Errorf("ack link after acknowledgement: %s", raw)
	}
	if !strings.Contains(string(raw), "🟠 Acknowledged by alice via slack") {
		t.Errorf("headline missing: %s", raw)
	}
}

// A legacy connector URL gets a MessageCard with the ack link as an action.
func TestLegacyConnectorMessageCard(t *testing.T) {
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, _ *http.Request) bool {
		io.WriteString(w, "1")
		return true
	}
	legacyURL := "http://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/" + legacyKey + "/u"
	ch := newChannel(t, f.URL, func(c *config.MSTeams) { c.PowerAutomateURL = legacyURL }, msteams.Options{HTTPClient: routeTo(f.Server)})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	if f.hosts[0] != "contoso.webhook.office.com" {
		t.Errorf("host = %s", f.hosts[0])
	}
	if body["@type"] != "MessageCard" || body["@context"] != "https://schema.org/extensions" || body["themeColor"] != "C70039" ||
		body["title"] != "🔴 Incident opened: Postgresql down (instance pg-prod-01)" || body["summary"] != body["title"] {
		t.Errorf("card = %v", body)
	}
	text, _ := body["text"].(string)
	if !strings.Contains(text, "Postgresql instance is down.\n\n") || !strings.Contains(text, "[Acknowledge this incident](https://tocsin.example.com/ack/") {
		t.Errorf("text = %q", text)
	}
	actions, _ := json.Marshal(body["potentialAction"])
	if !strings.Contains(string(actions), `{"@type":"OpenUri","name":"Acknowledge","targets":[{"os":"default","uri":"https://tocsin.example.com/ack/inc_01?exp=1772369700\u0026sig=abc123"}]}`) {
		t.Errorf("potentialAction = %s", actions)
	}
}

// Legacy connectors report failures in a 200 body.
func TestLegacyConnectorErrorsIn200(t *testing.T) {
	for _, tc := range []struct {
		body      string
		permanent bool
	}{
		{"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef", false},
		{"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0", true},
	} {
		f := newFake(t)
		f.respond = func(w http.ResponseWriter, _ *http.Request) bool {
			io.WriteString(w, tc.body)
			return true
		}
		// The fake speaks plain HTTP, so the legacy URL is http here.
		legacyURL := "http://outlook.office.com/webhook/" + legacyKey
		ch := newChannel(t, f.URL, func(c *config.MSTeams) { c.PowerAutomateURL = legacyURL }, msteams.Options{HTTPClient: routeTo(f.Server)})
		_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
		if permanent, _ := notify.Classify(err); err == nil || permanent != tc.permanent {
			t.Errorf("body %.60q: err = %v, permanent = %v", tc.body, err, permanent)
		}
		if err != nil && strings.Contains(err.Error(), legacyKey) {
			t.Errorf("error leaks the connector key: %v", err)
		}
	}
}

func TestOtherPowerURL(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, msteams.Options{})
	if !ch.HasKey("dba") || ch.HasKey("nope") || ch.HasKey("") {
		t.Error("HasKey is wrong")
	}
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"other_power_url": "dba"}
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if path, _ := f.last(t); path != "/workflows/dba/triggers/manual/paths/invoke?sig="+otherSig {
		t.Errorf("path = %s", path)
	}

	msg.Destination = map[string]string{"other_power_url": "unknown-team"}
	_, err := ch.Send(context.Background(), msg)
	if permanent, _ := notify.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), `"unknown-team"`) {
		t.Errorf("unknown key: err = %v, permanent = %v", err, permanent)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.MSTeams
		want string
	}{
		{config.MSTeams{}, "alert.msteams.power_automate_url: required"},
		{config.MSTeams{PowerAutomateURL: "prod-00.westus.logic.azure.com/workflows/" + workflowID}, "alert.msteams.power_automate_url: must be an absolute"},
		{config.MSTeams{PowerAutomateURL: "https://x.test/?sig=" + sig, OtherPowerURLs: map[string]string{"ops": "ftp://x/" + otherSig}}, "alert.msteams.other_power_urls.ops: must be an absolute"},
		{config.MSTeams{PowerAutomateURL: "https://x.test/?sig=" + sig, UseProxy: true}, "alert.msteams.use_proxy: proxy.url: required"},
	} {
		_, err := msteams.New(tc.cfg, msteams.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New = %v, want %q", err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), otherSig) || strings.Contains(err.Error(), workflowID)) {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
}

func TestUseProxy(t *testing.T) {
	var (
		mu         sync.Mutex
		host, auth string
		hits       int
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		host, auth = r.Host, r.Header.Get("Proxy-Authorization")
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	ch := newChannel(t, "http://prod-00.westus.logic.test", func(c *config.MSTeams) { c.UseProxy = true },
		msteams.Options{Proxy: &config.Proxy{URL: proxy.URL, Username: "pu", Password: "pp"}})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || host != "prod-00.westus.logic.test" || auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("pu:pp")) {
		t.Errorf("proxy saw %d requests, host %q, auth %q", hits, host, auth)
	}
}

func TestConnectionReuse(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, msteams.Options{})
	for i := range 5 {
		msg := notifytest.SampleMessage(notify.EventOpened)
		if i%2 == 1 {
			msg.Destination = map[string]string{"other_power_url": "dba"}
		}
		if _, err := ch.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) != 5 || f.conns != 1 {
		t.Errorf("%d requests over %d connections, want 5 over 1", len(f.bodies), f.conns)
	}
}

func TestUserTemplateMarkdown(t *testing.T) {
	f := newFake(t)
	path := t.TempDir() + "/teams.md"
	src := "# {{ .commonLabels.alertname }}\n**Status:** {{ .status }}\n\n```\n{{ .commonAnnotations.description }}\n```\n{{ range .alerts }}- {{ .labels.instance }} [ack]({{ .AckURL }})\n{{ end }}"
	writeFile(t, path, src)
	ch := newChannel(t, f.URL, func(c *config.MSTeams) { c.TemplatePath = path }, msteams.Options{})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	blocks, _ := json.Marshal(card(t, body)["body"].([]any)[2:])
	want := `[{"size":"Large","spacing":"Medium","text":"PostgresqlDown","type":"TextBlock","weight":"Bolder","wrap":true},` +
		`{"spacing":"None","text":"**Status:** firing","type":"TextBlock","wrap":true},` +
		`{"fontType":"Monospace","spacing":"Medium","text":"Postgresql instance is down.","type":"TextBlock","wrap":true},` +
		`{"spacing":"None","text":"- pg-prod-01 [ack](https://tocsin.example.com/ack/inc_01?exp=1772369700\u0026sig=abc123)","type":"TextBlock","wrap":true}]`
	if string(blocks) != want {
		t.Errorf("blocks = %s\nwant     %s", blocks, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
