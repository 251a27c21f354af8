package viber_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/notifytest"
	"tocsin/notify/viber"
)

const (
	token = "4453b6ac12345678-s3cret-viber-token"
	admin = "01234567890A="
)

// call is one request the fake Viber API received.
type call struct {
	Path  string
	Token string
	Body  map[string]any
}

// fakeViber answers like Viber; respond may override.
type fakeViber struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []call
	conns   int
	respond func(w http.ResponseWriter, c call) bool
}

func newFake(t *testing.T) *fakeViber {
	t.Helper()
	f := &fakeViber{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := call{Path: r.URL.Path, Token: r.Header.Get("X-Viber-Auth-Token")}
		if err := json.Unmarshal(raw, &c.Body); err != nil {
			t.Errorf("body is not a JSON object: %v", err)
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		respond := f.respond
		f.mu.Unlock()
		if respond != nil && respond(w, c) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if c.Path == "/pa/get_account_info" {
			fmt.Fprintf(w, `{"status":0,"status_message":"ok","id":"pa:75346594275468546724","name":"Ops","members":[{"id":"member-1=","name":"Bob","role":"admin"},{"id":%q,"name":"Alice","role":"superadmin"}]}`, admin)
			return
		}
		io.WriteString(w, `{"status":0,"status_message":"ok","message_token":5741311803571721087,"chat_hostname":"SN-CHAT-05_"}`)
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

func (f *fakeViber) last(t *testing.T) call {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("no request received")
	}
	return f.calls[len(f.calls)-1]
}

func newChannel(t *testing.T, apiURL string, mod func(*config.Viber), opts viber.Options) *viber.Channel {
	t.Helper()
	cfg := config.Viber{BotToken: token, ChannelID: admin, UserID: "user-1=", APIURL: apiURL, Timeout: config.Duration(300 * time.Millisecond)}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := viber.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// respond speaks Viber's dialect: most failures are HTTP 200 with a status.
func respond(w http.ResponseWriter, r *http.Request, reply notifytest.Reply) {
	w.Header().Set("Content-Type", "application/json")
	switch reply.Status {
	case http.StatusOK:
		io.WriteString(w, `{"status":0,"status_message":"ok","message_token":42}`)
	case http.StatusBadRequest:
		io.WriteString(w, `{"status":3,"status_message":"badData"}`)
	case http.StatusUnauthorized:
		io.WriteString(w, `{"status":2,"status_message":"invalidAuthToken"}`)
	case http.StatusForbidden:
		io.WriteString(w, `{"status":7,"status_message":"publicAccountBlocked"}`)
	default:
		notifytest.DefaultRespond(w, r, reply)
	}
}

func TestConformanceChannel(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL, nil, viber.Options{})
		},
		Respond: respond,
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.Method != http.MethodPost || r.URL.Path != "/pa/post" || r.Header.Get("X-Viber-Auth-Token") != token {
				t.Errorf("request = %s %s", r.Method, r.URL.Path)
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{token},
	})
}

func TestConformanceBot(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			return newChannel(t, baseURL, func(c *config.Viber) { c.APIType = viber.APIBot }, viber.Options{})
		},
		Respond: respond,
		Request: func(t *testing.T, r *http.Request, body []byte) {
			if r.URL.Path != "/pa/send_message" || r.Header.Get("X-Viber-Auth-Token") != token {
				t.Errorf("request = %s %s", r.Method, r.URL.Path)
			}
		},
		Timeout: 300 * time.Millisecond,
		Secrets: []string{token},
	})
}

// The default mode posts to the channel as the configured super admin,
// with the ack link of an Alertmanager incident in the text.
func TestChannelPost(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, viber.Options{})
	ref, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if err != nil {
		t.Fatal(err)
	}
	if ref != admin+"/5741311803571721087" {
		t.Errorf("ref = %q", ref)
	}
	c := f.last(t)
	if c.Path != "/pa/post" || c.Token != token || c.Body["auth_token"] != token || c.Body["from"] != admin || c.Body["type"] != "text" {
		t.Errorf("call = %+v", c)
	}
	text, _ := c.Body["text"].(string)
	for _, want := range []string{
		"🔴 Incident opened: Postgresql down (instance pg-prod-01)",
		"Impact: 1 (critical)",
		"👉 Acknowledge: https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=abc123",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// Without channel_id, the channel posts as the super admin that
// get_account_info lists, asking only once.
func TestChannelFindsSuperAdmin(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, func(c *config.Viber) { c.ChannelID = "" }, viber.Options{})
	for range 2 {
		if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var paths []string
	for _, c := range f.calls {
		paths = append(paths, c.Path)
	}
	if strings.Join(paths, " ") != "/pa/get_account_info /pa/post /pa/post" || f.calls[2].Body["from"] != admin {
		t.Errorf("calls = %v, from = %v", paths, f.calls[len(f.calls)-1].Body["from"])
	}
}

func TestChannelNoSuperAdminIsPermanent(t *testing.T) {
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, c call) bool {
		io.WriteString(w, `{"status":0,"status_message":"ok","members":[{"id":"x=","role":"admin"}]}`)
		return true
	}
	ch := newChannel(t, f.URL, func(c *config.Viber) { c.ChannelID = "" }, viber.Options{})
	_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), "alert.viber.channel_id") {
		t.Errorf("err = %v", err)
	}
}

func TestBotMessage(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, func(c *config.Viber) { c.APIType = viber.APIBot }, viber.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"user_id": "oncall-user="}
	ref, err := ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	c := f.last(t)
	sender, _ := json.Marshal(c.Body["sender"])
	if c.Path != "/pa/send_message" || c.Token != token || c.Body["receiver"] != "oncall-user=" || c.Body["min_api_version"] != float64(1) ||
		string(sender) != `{"name":"tocsin"}` || c.Body["type"] != "text" || c.Body["auth_token"] != nil {
		t.Errorf("call = %+v", c)
	}
	if ref != "oncall-user=/5741311803571721087" {
		t.Errorf("ref = %q", ref)
	}

	// A later event keeps the first reference.
	later := notifytest.SampleMessage(notify.EventResolved)
	later.Ref = ref
	if got, err := ch.Send(context.Background(), later); err != nil || got != ref {
		t.Errorf("resolved: ref = %q, %v", got, err)
	}
	if text := f.last(t).Body["text"].(string); !strings.Contains(text, "🟢 Resolved by bob via api") || strings.Contains(text, "Acknowledge:") {
		t.Errorf("resolved text = %q", text)
	}
}

func TestDestinationChannelID(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, viber.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"channel_id": "other-admin="}
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if from := f.last(t).Body["from"]; from != "other-admin=" {
		t.Errorf("from = %v", from)
	}
}

func TestStatuses(t *testing.T) {
	for _, tc := range []struct {
		body      string
		permanent bool
		contains  string
	}{
		{`{"status":12,"status_message":"tooManyRequests"}`, false, "status 12"},
		{`{"status":2,"status_message":"invalidAuthToken"}`, true, "check alert.viber.bot_token"},
		{`{"status":6,"status_message":"receiverNotSubscribed"}`, true, "not subscribed"},
		{`{"status":10,"status_message":"webhookNotSet"}`, true, "webhook"},
		{`{"status":99,"status_message":"generalError"}`, false, "status 99"},
		{`<html>proxy says hi</html>`, true, "unexpected response"},
	} {
		f := newFake(t)
		f.respond = func(w http.ResponseWriter, _ call) bool {
			io.WriteString(w, tc.body)
			return true
		}
		ch := newChannel(t, f.URL, func(c *config.Viber) { c.APIType = viber.APIBot }, viber.Options{})
		_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
		permanent, _ := notify.Classify(err)
		if err == nil || permanent != tc.permanent || !strings.Contains(err.Error(), tc.contains) || strings.Contains(err.Error(), token) {
			t.Errorf("%s: err = %v, permanent = %v", tc.body, err, permanent)
		}
	}
}

func TestLongTextIsTruncated(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, viber.Options{})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Alert.Description = strings.Repeat("é", 10000)
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	text := f.last(t).Body["text"].(string)
	if n := len([]rune(text)); n > viber.MaxTextLength || n < viber.MaxTextLength-300 {
		t.Errorf("text is %d characters, want close to %d", n, viber.MaxTextLength)
	}
	// The description is shortened; the title, status and ack link stay.
	for _, want := range []string{"é…", "Incident opened: " + msg.Incident.Title, "Status: triggered",
		"👉 Acknowledge: https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=abc123"} {
		if !strings.Contains(text, want) {
			t.Errorf("long text lacks %q: …%s", want, string([]rune(text)[len([]rune(text))-300:]))
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Viber
		want string
	}{
		{config.Viber{}, "alert.viber.bot_token: required"},
		{config.Viber{BotToken: token, APIType: "group"}, `alert.viber.api_type: "group" is not channel or bot`},
		{config.Viber{BotToken: token, APIURL: "chatapi.viber.com"}, "alert.viber.api_url:"},
		{config.Viber{BotToken: token, UseProxy: true}, "alert.viber.use_proxy: proxy.url: required"},
	} {
		_, err := viber.New(tc.cfg, viber.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), token) {
			t.Errorf("New = %v, want %q", err, tc.want)
		}
	}
	ch, err := viber.New(config.Viber{BotToken: token, APIType: viber.APIBot}, viber.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || !permanent || !strings.Contains(err.Error(), "alert.viber.user_id") {
		t.Errorf("bot without user_id: err = %v", err)
	}
}

func TestUseProxy(t *testing.T) {
	var (
		mu               sync.Mutex
		host, auth, path string
		hits             int
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		host, auth, path = r.Host, r.Header.Get("Proxy-Authorization"), r.URL.Path
		mu.Unlock()
		io.WriteString(w, `{"status":0,"status_message":"ok","message_token":1}`)
	}))
	defer proxy.Close()
	ch := newChannel(t, "http://chatapi.viber.test", func(c *config.Viber) { c.UseProxy = true },
		viber.Options{Proxy: &config.Proxy{URL: proxy.URL, Username: "pu", Password: "pp"}})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || host != "chatapi.viber.test" || path != "/pa/post" || auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("pu:pp")) {
		t.Errorf("proxy saw %d requests, host %q, path %q, auth %q", hits, host, path, auth)
	}
}

func TestConnectionReuse(t *testing.T) {
	f := newFake(t)
	ch := newChannel(t, f.URL, nil, viber.Options{})
	for range 5 {
		if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 5 || f.conns != 1 {
		t.Errorf("%d requests over %d connections, want 5 over 1", len(f.calls), f.conns)
	}
}
