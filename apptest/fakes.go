package apptest

import (
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// FakeSlack speaks the parts of Slack's Web API tocsin uses.
type FakeSlack struct {
	*httptest.Server
	mu         sync.Mutex
	posts      []url.Values
	updates    []url.Values
	ephemerals []url.Values
	hang       chan struct{} // when non-nil, requests block until it is closed
}

// NewFakeSlack starts a fake Slack Web API accepting the bot token
// "xoxb-test"; it stops when the test ends.
func NewFakeSlack(t testing.TB) *FakeSlack {
	f := &FakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hang := f.hang
		f.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		if r.Header.Get("Authorization") != "Bearer xoxb-test" && r.FormValue("token") != "xoxb-test" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "not_authed"})
			return
		}
		r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/chat.postMessage"):
			f.posts = append(f.posts, r.Form)
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1700000000." + strconv.Itoa(len(f.posts))})
		case strings.HasSuffix(r.URL.Path, "/chat.update"):
			f.updates = append(f.updates, r.Form)
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": r.Form.Get("ts")})
		case strings.HasSuffix(r.URL.Path, "/chat.postEphemeral"):
			f.ephemerals = append(f.ephemerals, r.Form)
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": "1700000001." + strconv.Itoa(len(f.ephemerals))})
		default:
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
		}
	}))
	t.Cleanup(func() {
		f.mu.Lock()
		if f.hang != nil {
			close(f.hang)
			f.hang = nil
		}
		f.mu.Unlock()
		f.Close()
	})
	return f
}

// Counts is how many messages were posted and updated.
func (f *FakeSlack) Counts() (posts, updates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts), len(f.updates)
}

// Posts are the chat.postMessage requests so far.
func (f *FakeSlack) Posts() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.posts...)
}

// Updates are the chat.update requests so far.
func (f *FakeSlack) Updates() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.updates...)
}

// Ephemerals are the chat.postEphemeral requests so far: answers shown
// to one user.
func (f *FakeSlack) Ephemerals() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.ephemerals...)
}

// Texts is every posted message's text, blocks and attachments, one line
// each.
func (f *FakeSlack) Texts() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, p := range f.posts {
		b.WriteString(p.Get("text") + p.Get("blocks") + p.Get("attachments") + "\n")
	}
	return b.String()
}

// SetHang makes requests block (on) until it is turned off, as a Slack
// that stopped answering.
func (f *FakeSlack) SetHang(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on && f.hang == nil {
		f.hang = make(chan struct{})
	} else if !on && f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

// Sink is a webhook receiver that can fail on demand.
type Sink struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []map[string]any
	attempts   int
	failNext   int // answer 500 to this many requests first
}

// NewSink starts a webhook receiver; it stops when the test ends.
func NewSink(t testing.TB) *Sink {
	s := &Sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.attempts++
		if s.failNext > 0 {
			s.failNext--
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		m["_signature"] = r.Header.Get("X-Tocsin-Signature")
		s.deliveries = append(s.deliveries, m)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the sink answer 500 to the next n requests (0: none).
func (s *Sink) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Attempts is how many requests arrived, failed ones included.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Deliveries are the bodies accepted so far; each has the request's
// X-Tocsin-Signature under "_signature".
func (s *Sink) Deliveries() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.deliveries...)
}

// Events are the events delivered for incidentID ("": every incident), in
// order.
func (s *Sink) Events(incidentID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.deliveries {
		if inc, _ := d["incident"].(map[string]any); inc != nil && (incidentID == "" || inc["id"] == incidentID) {
			out = append(out, d["event"].(string))
		}
	}
	return out
}

// Find is the delivery of event for incidentID, or nil.
func (s *Sink) Find(incidentID, event string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deliveries {
		if inc, _ := d["incident"].(map[string]any); inc != nil && inc["id"] == incidentID && d["event"] == event {
			return d
		}
	}
	return nil
}

// Mailbox is an in-process SMTP server (emersion/go-smtp) that keeps what it receives.
type Mailbox struct {
	// Addr is the SMTP server's HOST:PORT.
	Addr string
	mu   sync.Mutex
	msgs []string
}

// NewMailbox starts an SMTP server on 127.0.0.1; it stops when the test
// ends.
func NewMailbox(t testing.TB) *Mailbox {
	m := &Mailbox{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// NewSession implements smtp.Backend.
func (m *Mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

// Count is how many messages arrived.
func (m *Mailbox) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// Message is the i-th message (from 0), its body decoded.
func (m *Mailbox) Message(i int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs[i]
}

type mailSession struct{ m *Mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, string(b))
	s.m.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
