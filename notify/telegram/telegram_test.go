package telegram_test

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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/notifytest"
	"tocsin/notify/telegram"
)

const token = "123456:AAE-s3cret-bot-token"

// request is one sendMessage call the fake Bot API received.
type request struct {
	Path                  string          `json:"-"`
	ChatID                string          `json:"chat_id"`
	Text                  string          `json:"text"`
	ParseMode             string          `json:"parse_mode"`
	DisableWebPagePreview bool            `json:"disable_web_page_preview"`
	ReplyParameters       *map[string]any `json:"reply_parameters"`
}

// fakeBotAPI answers sendMessage like Telegram; respond may override.
type fakeBotAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	conns    int
	respond  func(w http.ResponseWriter, req request, n int) bool
}

func newFake(t *testing.T) *fakeBotAPI {
	t.Helper()
	f := &fakeBotAPI{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		req.Path = r.URL.Path
		f.mu.Lock()
		f.requests = append(f.requests, req)
		n := len(f.requests)
		respond := f.respond
		f.mu.Unlock()
		if respond != nil && respond(w, req, n) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"chat":{"id":-100123,"type":"supergroup"},"date":1772369701,"text":"…"}}`, 41+n)
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

func (f *fakeBotAPI) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no request received")
	}
	return f.requests[len(f.requests)-1]
}

func newChannel(t *testing.T, apiURL string, mod func(*config.Telegram), opts telegram.Options) *telegram.Channel {
	t.Helper()
	cfg := config.Telegram{BotToken: token, ChatID: "-100123", APIURL: apiURL, Timeout: config.Duration(300 * time.Millisecond)}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := telegram.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL, nil, telegram.Options{})
		},
		Respond: func(w http.ResponseWriter, _ *http.Request, reply notifytest.Reply) {
			w.Header().Set("Content-Type", "application/json")
			if reply.RetryAfter != "" {
				w.Header().Set("Retry-After", reply.RetryAfter)
			}
			w.WriteHeader(reply.Status)
			switch reply.Status {
			case http.StatusOK:
				fmt.Fprint(w, `{"ok":true,"result":{"message_id":42,"chat":{"id":-100123}}}`)
			case http.StatusTooManyRequests:
				fmt.Fprintf(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after %s","parameters":{"retry_after":%s}}`, reply.RetryAfter, reply.RetryAfter)
			case http.StatusBadRequest:
				fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
			case http.StatusUnauthorized:
				fmt.Fprint(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
			case http.StatusForbidden:
				fmt.Fprint(w, `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}`)
			default:
				fmt.Fprintf(w, `{"ok":false,"error_code":%d,"description":"Internal Server Error"}`, reply.Status)
			}
		},
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.Method != http.MethodPost || r.URL.Path != "/bot"+token+"/sendMessage" {
				t.Errorf("request = %s %s", r.Method, r.URL.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var req request
			if err := json.Unmarshal(body, &req); err != nil || req.ChatID != "-100123" || req.ParseMode != "HTML" || !req.DisableWebPagePreview {
				t.Errorf("body = %s (%v)", body, err)
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{token},
	})
}

// An Alertmanager incident's message carries the ack link, in valid
// Telegram HTML, to the configured chat.
func TestSendOpenedAlertmanager(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, telegram.Options{})
	ref, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if err != nil {
		t.Fatal(err)
	}
	if ref != "-100123/42" {
		t.Errorf("ref = %q, want -100123/42", ref)
	}
	req := f.last(t)
	if req.ChatID != "-100123" || req.ParseMode != "HTML" || !req.DisableWebPagePreview || req.ReplyParameters != nil {
		t.Errorf("request = %+v", req)
	}
	for _, want := range []string{
		"🔴 <b>Incident opened:</b> Postgresql down (instance pg-prod-01)",
		"<b>Impact:</b> 1 (critical)",
		"<b>Severity:</b> critical",
		"<code>instance=pg-prod-01</code>",
		`<a href="https://tocsin.example.com/ack/inc_01?exp=1772369700&amp;sig=abc123">Acknowledge this incident</a>`,
		`<a href="https://tocsin.example.com/api/v1/incidents/inc_01">View the incident in tocsin</a>`,
		`<a href="http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0">Prometheus</a>`,
	} {
		if !strings.Contains(req.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, req.Text)
		}
	}
}

func TestDestinationChatID(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, telegram.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"chat_id": "@oncall_team"}
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t).ChatID; got != "@oncall_team" {
		t.Errorf("chat_id = %q", got)
	}
}

func TestNoChatIsPermanent(t *testing.T) {
	ch := newChannel(t, "http://127.0.0.1:1", func(c *config.Telegram) { c.ChatID = "" }, telegram.Options{})
	_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), "chat_id") {
		t.Errorf("err = %v, want a permanent error naming chat_id", err)
	}
}

// Acknowledgement and resolution reply to the first message, in its chat,
// and keep pointing at it.
func TestLaterEventsReplyToFirst(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, telegram.Options{})
	for _, event := range []string{notify.EventAcknowledged, notify.EventResolved, notify.EventRenotify} {
		msg := notifytest.SampleMessage(event)
		msg.Ref = "-100999/7"
		msg.Destination = map[string]string{"chat_id": "ignored-for-replies"}
		ref, err := ch.Send(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if ref != msg.Ref {
			t.Errorf("%s: ref = %q, want %q", event, ref, msg.Ref)
		}
		req := f.last(t)
		if req.ChatID != "-100999" || req.ReplyParameters == nil ||
			(*req.ReplyParameters)["message_id"] != float64(7) || (*req.ReplyParameters)["allow_sending_without_reply"] != true {
			t.Errorf("%s: request = %+v", event, req)
		}
		if event != notify.EventRenotify && strings.Contains(req.Text, "Acknowledge this incident") {
			t.Errorf("%s: an ack link after the incident was acknowledged: %s", event, req.Text)
		}
	}
	if !strings.Contains(f.last(t).Text, "Still unacknowledged") {
		t.Errorf("renotify text = %q", f.last(t).Text)
	}
}

// HTML Telegram cannot parse (a user template's mistake) is sent again as
// plain text instead of failing for good.
func TestUnparsableHTMLFallsBackToPlainText(t *testing.T) {
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, req request, n int) bool {
		if req.ParseMode == "HTML" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Unsupported start tag \"latency\" at byte offset 4"}`)
			return true
		}
		return false
	}
	tmpl := t.TempDir() + "/user.tmpl"
	writeFile(t, tmpl, `p99 <latency> 5 &amp; <b>{{ .Incident.Title }}</b> {{ .AckURL }}`)
	ch := newChannel(t, f.URL, func(c *config.Telegram) { c.TemplatePath = tmpl }, telegram.Options{})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	req := f.last(t)
	want := "p99 <latency> 5 & Postgresql down (instance pg-prod-01) https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=abc123"
	if req.ParseMode != "" || req.Text != want {
		t.Errorf("fallback request = %+v, want plain text %q", req, want)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		permanent bool
		after     time.Duration
		contains  string
	}{
		{"rate limited", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}`, false, 5 * time.Second, "retry after 5"},
		{"chat not found", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, true, 0, "chat not found"},
		{"migrated", 400, `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234}}`, true, 0, "-1001234"},
		{"unauthorized", 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, true, 0, "401"},
		{"bad gateway html", 502, `<html>Bad Gateway</html>`, false, 0, "502"},
		{"ok false", 200, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`, true, 0, "text is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.respond = func(w http.ResponseWriter, _ request, _ int) bool {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			}
			ch := newChannel(t, f.URL, nil, telegram.Options{})
			_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
			if err == nil {
				t.Fatal("no error")
			}
			permanent, after := notify.Classify(err)
			if permanent != tc.permanent || after != tc.after {
				t.Errorf("permanent, after = %v, %v; want %v, %v (%v)", permanent, after, tc.permanent, tc.after, err)
			}
			if !strings.Contains(err.Error(), tc.contains) || strings.Contains(err.Error(), token) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestLongMessageIsTruncated(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, telegram.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Description = strings.Repeat("disk <full> & ", 2000)
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	text := f.last(t).Text
	visible := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(text, "")
	visible = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(visible)
	if n := len([]rune(visible)); n > telegram.MaxTextLength {
		t.Errorf("visible text is %d characters, want at most %d", n, telegram.MaxTextLength)
	}
	// The description is shortened; the title, status and ack link stay.
	for _, want := range []string{"disk &lt;full&gt; &amp; disk", "…\n<b>Labels:</b>", "<b>Incident opened:</b> " + msg.Incident.Title, "<b>Status:</b> triggered",
		`<a href="https://tocsin.example.com/ack/inc_01?exp=1772369700&amp;sig=abc123">Acknowledge this incident</a>`} {
		if !strings.Contains(text, want) {
			t.Errorf("long message lacks %q:\n…%s", want, text[len(text)-400:])
		}
	}
}

// A user template too long for Telegram is cut, keeping its HTML valid,
// and the ack link it showed is appended again.
func TestLongUserTemplateKeepsAckLink(t *testing.T) {
	f := newFake(t)
	tmpl := t.TempDir() + "/user.tmpl"
	writeFile(t, tmpl, `<b>{{ .Incident.Title }}</b> <code>{{ .Alert.Description }}</code> <a href="{{ .AckURL }}">ack</a>`)
	ch := newChannel(t, f.URL, func(c *config.Telegram) { c.TemplatePath = tmpl }, telegram.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Description = strings.Repeat("x", 5200)
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	text := f.last(t).Text
	if want := "x…</code>\n\n👉 <a href=\"https://tocsin.example.com/ack/inc_01?exp=1772369700&amp;sig=abc123\">Acknowledge this incident</a>"; !strings.HasSuffix(text, want) {
		t.Errorf("text ends …%s, want …%s", text[len(text)-200:], want)
	}
	if n := len([]rune(text)); n > telegram.MaxTextLength+200 {
		t.Errorf("text is %d characters", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   config.Telegram
		proxy *config.Proxy
		want  string
	}{
		{config.Telegram{}, nil, "alert.telegram.bot_token: required"},
		{config.Telegram{BotToken: "a/b"}, nil, "alert.telegram.bot_token: must not contain"},
		{config.Telegram{BotToken: token, APIURL: "api.telegram.org"}, nil, "alert.telegram.api_url:"},
		{config.Telegram{BotToken: token, TemplatePath: "/nonexistent/t.tmpl"}, nil, "alert.telegram.template_path:"},
		{config.Telegram{BotToken: token, UseProxy: true}, nil, "alert.telegram.use_proxy: proxy.url: required"},
		{config.Telegram{BotToken: token, UseProxy: true}, &config.Proxy{URL: "ftp://user:pw-s3cret@proxy:21"}, "alert.telegram.use_proxy: proxy.url: scheme"},
	} {
		_, err := telegram.New(tc.cfg, telegram.Options{Proxy: tc.proxy})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "pw-s3cret") || strings.Contains(err.Error(), token)) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

// With use_proxy on, requests go through the global proxy, with its
// credentials.
func TestUseProxy(t *testing.T) {
	var (
		mu        sync.Mutex
		seenHost  string
		seenAuth  string
		seenPath  string
		proxyHits int
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxyHits++
		seenHost, seenAuth, seenPath = r.Host, r.Header.Get("Proxy-Authorization"), r.URL.Path
		mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":9,"chat":{"id":-100123}}}`)
	}))
	defer proxy.Close()
	ch := newChannel(t, "http://api.telegram.test", func(c *config.Telegram) { c.UseProxy = true },
		telegram.Options{Proxy: &config.Proxy{URL: proxy.URL, Username: "proxyuser", Password: "proxypass"}})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("proxyuser:proxypass"))
	if proxyHits != 1 || seenHost != "api.telegram.test" || seenPath != "/bot"+token+"/sendMessage" || seenAuth != wantAuth {
		t.Errorf("proxy saw %d requests, host %q, path %q, auth %q", proxyHits, seenHost, seenPath, seenAuth)
	}
}

// One client, built at New, serves every send: five messages use one
// keep-alive connection.
func TestConnectionReuse(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, telegram.Options{})
	for range 5 {
		if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 5 || f.conns != 1 {
		t.Errorf("%d requests over %d connections, want 5 over 1", len(f.requests), f.conns)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
