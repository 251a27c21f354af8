package main

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

// fakeSlack speaks the parts of Slack's Web API tocsin uses.
type fakeSlack struct {
	*httptest.Server
	mu      sync.Mutex
	posts   []url.Values
	updates []url.Values
	hang    chan struct{} // when non-nil, requests block until it is closed
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{}
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
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1700000000." + itoa(len(f.posts))})
		case strings.HasSuffix(r.URL.Path, "/chat.update"):
			f.updates = append(f.updates, r.Form)
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": r.Form.Get("ts")})
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

func (f *fakeSlack) counts() (posts, updates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts), len(f.updates)
}

func (f *fakeSlack) setHang(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on && f.hang == nil {
		f.hang = make(chan struct{})
	} else if !on && f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

// sink is a webhook receiver that can fail on demand.
type sink struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []map[string]any
	attempts   int
	failNext   int // answer 500 to this many requests first
}

func newSink(t testing.TB) *sink {
	s := &sink{}
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

func (s *sink) events(incidentID string) []string {
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

func (s *sink) find(incidentID, event string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deliveries {
		if inc, _ := d["incident"].(map[string]any); inc != nil && inc["id"] == incidentID && d["event"] == event {
			return d
		}
	}
	return nil
}

// mailbox is an in-process SMTP server (emersion/go-smtp) that keeps what it receives.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newMailbox(t testing.TB) *mailbox {
	m := &mailbox{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

func (m *mailbox) message(i int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs[i]
}

type mailSession struct{ m *mailbox }

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

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
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

func itoa(n int) string { return strconv.Itoa(n) }
