package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/email"
	"tocsin/notify/notifytest"
)

const (
	user     = "tocsin@example.com"
	password = "smtp-pa55word-secret"
)

// received is one message the test server accepted.
type received struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
}

// backend is an in-process SMTP server's state.
type backend struct {
	mu   sync.Mutex
	msgs []received
	// auth enables AUTH PLAIN with user/password.
	auth bool
	// rcptErr, if set, is the reply to RCPT TO.
	rcptErr *smtp.SMTPError
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b    *backend
	conn *smtp.Conn
	msg  received
}

func (s *session) AuthMechanisms() []string {
	if s.b.auth {
		return []string{sasl.Plain}
	}
	return nil
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, pass string) error {
		if username != user || pass != password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.msg.AuthUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.auth && s.msg.AuthUser == "" {
		return smtp.ErrAuthRequired
	}
	_, s.msg.TLS = s.conn.TLSConnectionState()
	s.msg.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.msg)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = received{AuthUser: s.msg.AuthUser} }
func (s *session) Logout() error { return nil }

// startServer runs an SMTP server on 127.0.0.1:0 in the given TLS mode and
// returns its port.
func startServer(t *testing.T, b *backend, mode string) int {
	t.Helper()
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = mode == email.TLSNone
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case email.TLSStartTLS:
		s.TLSConfig = selfSigned(t)
	case email.TLSImplicit:
		l = tls.NewListener(l, selfSigned(t))
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func newChannel(t *testing.T, port int, mod func(*config.Email)) *email.Channel {
	t.Helper()
	cfg := config.Email{
		SMTPHost:           "127.0.0.1",
		SMTPPort:           port,
		From:               "tocsin@example.com",
		To:                 "oncall@example.com, Ops Team <ops@example.com>",
		TLS:                email.TLSNone,
		InsecureSkipVerify: true,
		Timeout:            config.Duration(2 * time.Second),
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := email.New(cfg, email.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func withAuth(c *config.Email) { c.Username, c.Password = user, password }

// parsed is a received message split into headers and decoded parts.
type parsed struct {
	Header *mail.Message
	Parts  map[string]string // media type → decoded body
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsed{Header: m, Parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.Parts[ct] = string(b)
	}
	return p
}

func TestPlaintext(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), nil)
	msg := notifytest.SampleMessage(notify.EventOpened)
	ref, err := ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	msgs := b.messages()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	got := msgs[0]
	if got.From != "tocsin@example.com" || strings.Join(got.To, ",") != "oncall@example.com,ops@example.com" || got.TLS {
		t.Errorf("envelope = %+v", got)
	}
	p := parse(t, got.Data)
	h := p.Header.Header
	if s := h.Get("Subject"); s != "[Incident] Postgresql down (instance pg-prod-01) (impact 1, critical)" {
		t.Errorf("Subject = %q", s)
	}
	if id := h.Get("Message-Id"); id != "<"+ref+">" || !strings.HasSuffix(ref, "@example.com") {
		t.Errorf("Message-ID = %q, ref = %q", id, ref)
	}
	if h.Get("X-Tocsin-Event") != "opened" || h.Get("X-Tocsin-Incident") != "inc_01" || h.Get("In-Reply-To") != "" {
		t.Errorf("headers = %v", h)
	}
	for _, ct := range []string{"text/plain", "text/html"} {
		body := p.Parts[ct]
		want := msg.AckURL
		if ct == "text/html" {
			want = strings.ReplaceAll(want, "&", "&amp;")
		}
		if !strings.Contains(body, want) || !strings.Contains(body, "Incident opened") {
			t.Errorf("%s part lacks the ack link %s:\n%s", ct, want, body)
		}
	}
}

func TestStartTLSWithAuth(t *testing.T) {
	b := &backend{auth: true}
	ch := newChannel(t, startServer(t, b, email.TLSStartTLS), func(c *config.Email) {
		c.TLS = email.TLSStartTLS
		withAuth(c)
	})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	if msgs := b.messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].AuthUser != user {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestImplicitTLSWithAuth(t *testing.T) {
	b := &backend{auth: true}
	ch := newChannel(t, startServer(t, b, email.TLSImplicit), func(c *config.Email) {
		c.TLS = email.TLSImplicit
		withAuth(c)
	})
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventResolved)); err != nil {
		t.Fatal(err)
	}
	msgs := b.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].AuthUser != user {
		t.Fatalf("messages = %+v", msgs)
	}
	if s := parse(t, msgs[0].Data).Header.Header.Get("Subject"); !strings.HasPrefix(s, "[Resolved]") {
		t.Errorf("Subject = %q", s)
	}
}

func TestPlaintextAuthOnLocalhost(t *testing.T) {
	b := &backend{auth: true}
	ch := newChannel(t, startServer(t, b, email.TLSNone), withAuth)
	if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	if msgs := b.messages(); len(msgs) != 1 || msgs[0].AuthUser != user {
		t.Fatalf("messages = %+v", msgs)
	}
}

// Mandatory STARTTLS: a server without it is an error, not a downgrade.
func TestStartTLSRequired(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), func(c *config.Email) { c.TLS = email.TLSStartTLS })
	_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v", err)
	}
	if len(b.messages()) != 0 {
		t.Fatal("message sent without TLS")
	}
	// Retrying will not make the relay offer STARTTLS: say so once, with
	// the setting that fixes it.
	if permanent, _ := notify.Classify(err); !permanent || !strings.Contains(err.Error(), "alert.email.tls: none") {
		t.Errorf("permanent = %v, err = %v; want a permanent error naming alert.email.tls: none", permanent, err)
	}
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSImplicit), func(c *config.Email) {
		c.TLS = email.TLSImplicit
		c.InsecureSkipVerify = false
	})
	_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || !permanent {
		t.Fatalf("err = %v, permanent = %v", err, permanent)
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name          string
		b             *backend
		mod           func(*config.Email)
		wantPermanent bool
	}{
		{"450 mailbox busy", &backend{rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try later"}}, nil, false},
		{"451 local error", &backend{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error"}}, nil, false},
		{"550 mailbox unavailable", &backend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}}, nil, true},
		{"535 auth failed", &backend{auth: true}, func(c *config.Email) { c.Username, c.Password = user, password+"-wrong" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := newChannel(t, startServer(t, tt.b, email.TLSNone), tt.mod)
			_, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
			if err == nil {
				t.Fatal("want error")
			}
			if permanent, _ := notify.Classify(err); permanent != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v: %v", permanent, tt.wantPermanent, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("password in error: %v", err)
			}
			if len(tt.b.messages()) != 0 {
				t.Error("message delivered")
			}
		})
	}
}

func TestUnreachableAndHangingServers(t *testing.T) {
	// Nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = newChannel(t, port, nil).Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || permanent {
		t.Errorf("unreachable: err = %v, permanent = %v", err, permanent)
	}

	// Accepts, then never says a word.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ch := newChannel(t, l.Addr().(*net.TCPAddr).Port, func(c *config.Email) { c.Timeout = config.Duration(300 * time.Millisecond) })
	start := time.Now()
	_, err = ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened))
	if permanent, _ := notify.Classify(err); err == nil || permanent {
		t.Errorf("hanging: err = %v, permanent = %v", err, permanent)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("hanging server: Send took %v with a 300ms timeout", d)
	}
}

// A subject with CR/LF cannot add a header, whether it comes from the
// request (Destination) or from alert data through the subject template.
func TestHeaderInjection(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), func(c *config.Email) {
		c.Subject = "Alert: {{ .Incident.Title }}"
	})
	msg := notifytest.SampleMessage(notify.EventOpened)
	msg.Destination = map[string]string{"subject": "x\r\nBcc: evil@x"}
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	msg = notifytest.SampleMessage(notify.EventOpened)
	msg.Incident.Title = "db\nBcc: evil@x\r\nX-Injected: 1"
	if _, err := ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	wantSubjects := []string{"x Bcc: evil@x", "Alert: db Bcc: evil@x X-Injected: 1"}
	for i, got := range b.messages() {
		h := parse(t, got.Data).Header.Header
		if h.Get("Subject") != wantSubjects[i] {
			t.Errorf("Subject = %q, want %q", h.Get("Subject"), wantSubjects[i])
		}
		if h.Get("Bcc") != "" || h.Get("X-Injected") != "" {
			t.Errorf("injected header: %v", h)
		}
		for _, rcpt := range got.To {
			if strings.Contains(rcpt, "evil") {
				t.Errorf("injected recipient %q", rcpt)
			}
		}
	}
	if email.CleanSubject("a\u2028b\x00c\td") != "a b c d" {
		t.Errorf("CleanSubject = %q", email.CleanSubject("a\u2028b\x00c\td"))
	}
}

func TestDestinationAndThreading(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), nil)
	msg := notifytest.SampleMessage(notify.EventAcknowledged)
	msg.Destination = map[string]string{"to": "a@example.org, b@example.org"}
	msg.Ref = "tocsin.dlv_00@example.com"
	ref, err := ch.Send(context.Background(), msg)
	if err != nil || ref != msg.Ref {
		t.Fatalf("ref = %q, err = %v", ref, err)
	}
	got := b.messages()[0]
	if strings.Join(got.To, ",") != "a@example.org,b@example.org" {
		t.Errorf("To = %v", got.To)
	}
	h := parse(t, got.Data).Header.Header
	if h.Get("In-Reply-To") != "<"+msg.Ref+">" || h.Get("References") != "<"+msg.Ref+">" {
		t.Errorf("threading headers: %v", h)
	}

	// An invalid override is a permanent error and sends nothing.
	msg.Destination = map[string]string{"to": "not an address"}
	_, err = ch.Send(context.Background(), msg)
	if permanent, _ := notify.Classify(err); err == nil || !permanent {
		t.Errorf("invalid to: err = %v", err)
	}
	if len(b.messages()) != 1 {
		t.Error("sent to an invalid address")
	}
}

func TestNewValidates(t *testing.T) {
	base := config.Email{SMTPHost: "smtp.example.com", From: "a@example.com", To: "b@example.com"}
	tests := []struct {
		name string
		mod  func(*config.Email)
	}{
		{"no host", func(c *config.Email) { c.SMTPHost = "" }},
		{"bad tls", func(c *config.Email) { c.TLS = "ssl3" }},
		{"bad port", func(c *config.Email) { c.SMTPPort = 70000 }},
		{"no from", func(c *config.Email) { c.From = "" }},
		{"bad to", func(c *config.Email) { c.To = "x@, y" }},
		{"password in plaintext", func(c *config.Email) { c.TLS = "none"; c.Username, c.Password = user, password }},
		{"bad subject template", func(c *config.Email) { c.Subject = "{{ .Incident" }},
		{"missing html template", func(c *config.Email) { c.TemplatePath = "/nonexistent/email.html" }},
	}
	for _, tt := range tests {
		cfg := base
		tt.mod(&cfg)
		_, err := email.New(cfg, email.Options{})
		if err == nil {
			t.Errorf("%s: want error", tt.name)
		} else if strings.Contains(err.Error(), password) {
			t.Errorf("%s: password in error", tt.name)
		}
	}
	// From defaults to the username; port 465 defaults to implicit TLS.
	cfg := base
	cfg.From, cfg.Username, cfg.Password, cfg.SMTPPort = "", user, password, 465
	if _, err := email.New(cfg, email.Options{}); err != nil {
		t.Errorf("username as from: %v", err)
	}
}

// One channel serves concurrent sends (run with -race).
func TestConcurrentSends(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), nil)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := ch.Send(context.Background(), notifytest.SampleMessage(notify.EventOpened)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(b.messages()); n != 5 {
		t.Fatalf("received %d messages, want 5", n)
	}
}

// A notice (a hand-off note, an activation code) is a plain-text email to
// its address, its subject its own, with nothing of an incident.
func TestNoticeIsPlainText(t *testing.T) {
	b := &backend{}
	ch := newChannel(t, startServer(t, b, email.TLSNone), nil)
	n := notifytest.SampleNotice()
	n.To = "ben@example.com"
	if err := ch.SendNotice(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	msgs := b.messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "ben@example.com" {
		t.Fatalf("received %+v", msgs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Subject") != n.Subject || m.Header.Get("X-Tocsin-Event") != notify.EventNotice || m.Header.Get("X-Tocsin-Incident") != "" {
		t.Errorf("headers = %v", m.Header)
	}
	if ct, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); ct != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain alone", ct)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	text, _ := io.ReadAll(body)
	if !strings.Contains(string(text), n.Text) || strings.Contains(string(text), "Impact") {
		t.Errorf("body = %q", text)
	}
}
