package lark_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	"tocsin/notify/lark"
	"tocsin/notify/notifytest"
)

const (
	hookToken  = "0f4b2a6c-s3cret-hook-token"
	otherToken = "77aa11bb-other-s3cret-token"
)

// fakeLark records cards and answers like a custom bot.
type fakeLark struct {
	*httptest.Server
	mu      sync.Mutex
	paths   []string
	bodies  []map[string]any
	conns   int
	respond func(w http.ResponseWriter) bool
}

func newFake(t *testing.T) *fakeLark {
	t.Helper()
	f := &fakeLark{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body is not a JSON object: %v", err)
		}
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.bodies = append(f.bodies, body)
		respond := f.respond
		f.mu.Unlock()
		if respond != nil && respond(w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`)
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

func (f *fakeLark) last(t *testing.T) (string, map[string]any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		t.Fatal("no request received")
	}
	return f.paths[len(f.paths)-1], f.bodies[len(f.bodies)-1]
}

func newChannel(t *testing.T, base string, mod func(*config.Lark), opts lark.Options) *lark.Channel {
	t.Helper()
	cfg := config.Lark{
		WebhookURL:       base + "/open-apis/bot/v2/hook/" + hookToken,
		OtherWebhookURLs: map[string]string{"dba": base + "/open-apis/bot/v2/hook/" + otherToken},
		Timeout:          config.Duration(300 * time.Millisecond),
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := lark.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL, nil, lark.Options{})
		},
		// Lark reports most errors as HTTP 200 with a code.
		Respond: func(w http.ResponseWriter, r *http.Request, reply notifytest.Reply) {
			w.Header().Set("Content-Type", "application/json")
			switch reply.Status {
			case http.StatusOK:
				io.WriteString(w, `{"code":0,"data":{},"msg":"success"}`)
			case http.StatusBadRequest:
				io.WriteString(w, `{"code":9499,"data":{},"msg":"Bad Request"}`)
			case http.StatusUnauthorized:
				io.WriteString(w, `{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}`)
			case http.StatusForbidden:
				io.WriteString(w, `{"code":19022,"data":{},"msg":"Ip Not Allowed"}`)
			case http.StatusTooManyRequests:
				w.Header().Set("Retry-After", reply.RetryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"code":11232,"data":{},"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}`)
			default:
				notifytest.DefaultRespond(w, r, reply)
			}
		},
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.Method != http.MethodPost || r.URL.Path != "/open-apis/bot/v2/hook/"+hookToken || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Errorf("request = %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			}
			if !strings.Contains(string(body), `"msg_type":"interactive"`) {
				t.Errorf("body = %s", body)
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{hookToken, otherToken},
	})
}

// An Alertmanager incident's card has a red header, the Markdown text with
// the ack link, and the Acknowledge button.
func TestCardAlertmanager(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, lark.Options{})
	if ref, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	path, body := f.last(t)
	if path != "/open-apis/bot/v2/hook/"+hookToken {
		t.Errorf("path = %s", path)
	}
	card := body["card"].(map[string]any)
	if body["msg_type"] != "interactive" || card["config"].(map[string]any)["wide_screen_mode"] != true {
		t.Errorf("body = %v", body)
	}
	header, _ := json.Marshal(card["header"])
	if string(header) != `{"template":"red","title":{"content":"🔴 Incident opened: Postgresql down (instance pg-prod-01)","tag":"plain_text"}}` {
		t.Errorf("header = %s", header)
	}
	elements := card["elements"].([]any)
	md := elements[0].(map[string]any)
	content, _ := md["content"].(string)
	if md["tag"] != "markdown" {
		t.Errorf("first element = %v", md)
	}
	for _, want := range []string{
		"**Impact:** 1 (critical) · **Status:** triggered · **Source:** alertmanager",
		"**Severity:** critical",
		"Postgresql instance is down.",
		"`instance=pg-prod-01`",
		"[Prometheus](http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0)",
		"👉 [Acknowledge this incident](https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=abc123)",
	} {
		if !strings.Contains(content, want) {
			t.Errorf("markdown lacks %q:\n%s", want, content)
		}
	}
	actions, _ := json.Marshal(elements[1])
	want := `{"actions":[{"tag":"button","text":{"content":"Acknowledge","tag":"plain_text"},"type":"danger","url":"https://tocsin.example.com/ack/inc_01?exp=1772369700\u0026sig=abc123"},` +
		`{"tag":"button","text":{"content":"View incident","tag":"plain_text"},"type":"default","url":"https://tocsin.example.com/api/v1/incidents/inc_01"}],"tag":"action"}`
	if string(actions) != want {
		t.Errorf("actions = %s\nwant      %s", actions, want)
	}
}

func TestHeaderColoursAndNoAckAfterAck(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, lark.Options{})
	for event, colour := range map[string]string{notify.EventAcknowledged: "orange", notify.EventResolved: "green", notify.EventRenotify: "red"} {
		if _, err := ch.Send(context.Background(), notifytest.SampleMessage(event)); err != nil {
			t.Fatal(err)
		}
		_, body := f.last(t)
		raw, _ := json.Marshal(body)
		if !strings.Contains(string(raw), `"template":"`+colour+`"`) {
			t.Errorf("%s: %s", event, raw)
		}
		hasAck := strings.Contains(string(raw), `"content":"Acknowledge"`) || strings.Contains(string(raw), "Acknowledge this incident")
		if hasAck != (event == notify.EventRenotify) {
			t.Errorf("%s: ack shown = %v", event, hasAck)
		}
	}
}

func TestMarkupInDataIsEscaped(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, lark.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Description = `p99 <at id=all></at> > 5s`
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), "<at") || !strings.Contains(string(raw), `p99 \u0026#60;at id=all\u0026#62;\u0026#60;/at\u0026#62; \u0026#62; 5s`) {
		t.Errorf("markup not escaped: %s", raw)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		header    string
		body      string
		permanent bool
		after     time.Duration
		contains  string
	}{
		{200, "", `{"code":11232,"msg":"frequency limited"}`, false, 0, "code 11232"},
		{400, "", `{"code":11232,"msg":"frequency limited"}`, false, 0, "code 11232"},
		{429, "3", `{"code":99991400,"msg":"request trigger frequency limit"}`, false, 3 * time.Second, "99991400"},
		{200, "", `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`, true, 0, "turn off signature verification"},
		{200, "", `{"code":19024,"msg":"Key Words Not Found"}`, true, 0, "keyword"},
		{200, "", `{"code":9499,"msg":"Bad Request"}`, true, 0, "code 9499"},
		{404, "", `404 page not found`, true, 0, "HTTP 404"},
		{503, "", `upstream unavailable`, false, 0, "HTTP 503"},
		{200, "", `<html>captive portal</html>`, true, 0, "unexpected response"},
	} {
		f := newFake(t)
		f.respond = func(w http.ResponseWriter) bool {
			if tc.header != "" {
				w.Header().Set("x-ogw-ratelimit-reset", tc.header)
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
			return true
		}
		ch := newChannel(t, f.URL, nil, lark.Options{})
		_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
		permanent, after := notify.Classify(err)
		if err == nil || permanent != tc.permanent || after != tc.after || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%d %s: err = %v, permanent = %v, after = %v", tc.status, tc.body, err, permanent, after)
		}
		if err != nil && strings.Contains(err.Error(), hookToken) {
			t.Errorf("error leaks the token: %v", err)
		}
	}
}

func TestOtherWebhookURL(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, lark.Options{})
	if !ch.HasKey("dba") || ch.HasKey("other") || ch.HasKey("") {
		t.Error("HasKey is wrong")
	}
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"other_webhook_url": "dba"}
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if path, _ := f.last(t); path != "/open-apis/bot/v2/hook/"+otherToken {
		t.Errorf("path = %s", path)
	}
	msg.Destination = map[string]string{"other_webhook_url": "missing"}
	_, err := ch.Send(context.Background(), msg)
	if permanent, _ := notify.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("unknown key: err = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Lark
		want string
	}{
		{config.Lark{}, "alert.lark.webhook_url: required"},
		{config.Lark{WebhookURL: "open.larksuite.com/open-apis/bot/v2/hook/" + hookToken}, "alert.lark.webhook_url: must be an absolute"},
		{config.Lark{WebhookURL: "https://x.test/h/" + hookToken, OtherWebhookURLs: map[string]string{"ops": ":/" + otherToken}}, "alert.lark.other_webhook_urls.ops: must be"},
		{config.Lark{WebhookURL: "https://x.test/h/" + hookToken, UseProxy: true}, "alert.lark.use_proxy: proxy.url: required"},
		{config.Lark{WebhookURL: "https://x.test/h/" + hookToken, TemplatePath: "/nonexistent.md"}, "alert.lark.template_path:"},
	} {
		_, err := lark.New(tc.cfg, lark.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New = %v, want %q", err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), hookToken) || strings.Contains(err.Error(), otherToken)) {
			t.Errorf("error leaks a token: %v", err)
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
		io.WriteString(w, `{"code":0,"msg":"success"}`)
	}))
	defer proxy.Close()
	ch := newChannel(t, "http://open.larksuite.test", func(c *config.Lark) { c.UseProxy = true },
		lark.Options{Proxy: &config.Proxy{URL: proxy.URL, Username: "pu", Password: "pp"}})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || host != "open.larksuite.test" || auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("pu:pp")) {
		t.Errorf("proxy saw %d requests, host %q, auth %q", hits, host, auth)
	}
}

func TestConnectionReuse(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, lark.Options{})
	for range 5 {
		if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) != 5 || f.conns != 1 {
		t.Errorf("%d requests over %d connections, want 5 over 1", len(f.bodies), f.conns)
	}
}

func TestEmptyTemplateStillHasBody(t *testing.T) {
	f := newFake(t)
	path := t.TempDir() + "/empty.md"
	if err := os.WriteFile(path, []byte("{{/* nothing */}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := newChannel(t, f.URL, func(c *config.Lark) { c.TemplatePath = path }, lark.Options{})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	raw, _ := json.Marshal(body)
	if !strings.Contains(string(raw), fmt.Sprintf(`{"content":%q,"tag":"markdown"}`, "🔴 Incident opened: Postgresql down (instance pg-prod-01)")) {
		t.Errorf("body = %s", raw)
	}
}
