// Package email is the SMTP channel. Each notification is one
// multipart/alternative message (a text/plain and a text/html part) sent
// with github.com/wneessen/go-mail.
//
// Transport security (config key tls):
//
//   - "starttls" (the default): plaintext connect, then STARTTLS, which is
//     mandatory: a server without it is an error, never a silent downgrade;
//   - "implicit": TLS from the first byte (SMTPS); the default on port 465;
//   - "none": plaintext, for local relays. A password is never sent this
//     way except to localhost.
//
// SMTP AUTH is used when a username is set: PLAIN, or LOGIN for Microsoft's
// hosts (office365.com, outlook.com, microsoft.com), as Versus Incident
// does. Messages about one incident thread together: the first message's
// Message-ID is the channel's reference, and later ones carry it in
// In-Reply-To and References.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"

	"tocsin/config"
	"tocsin/notify"
)

// TLS modes.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
	TLSNone     = "none"
)

// DefaultTimeout bounds one delivery, from dial to QUIT, when the config sets none.
const DefaultTimeout = 15 * time.Second

// maxSubject bounds the subject line, in characters.
const maxSubject = 250

// Options are the channel's dependencies; the zero value is usable.
type Options struct {
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Channel sends email through one SMTP server. It is safe for concurrent use.
type Channel struct {
	host      string
	mode      string
	tlsConfig *tls.Config
	opts      []gomail.Option
	from      string
	fromHost  string
	to        []string
	password  string
	timeout   time.Duration
	subject   *notify.Template
	html      *notify.Template
	text      *notify.Template
	logger    *slog.Logger
}

// New validates cfg and returns the channel.
func New(cfg config.Email, opts Options) (*Channel, error) {
	host := strings.TrimSpace(cfg.SMTPHost)
	if host == "" {
		return nil, errors.New("email: smtp_host is required")
	}
	mode := strings.ToLower(strings.TrimSpace(cfg.TLS))
	switch mode {
	case "":
		mode = TLSStartTLS
		if cfg.SMTPPort == 465 {
			mode = TLSImplicit
		}
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("email: tls must be starttls, implicit or none, not %q", cfg.TLS)
	}
	port := cfg.SMTPPort
	if port == 0 {
		port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[mode]
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("email: invalid smtp_port %d", port)
	}
	if mode == TLSNone && cfg.Username != "" && !isLocalhost(host) {
		return nil, errors.New("email: refusing to send the password unencrypted (tls: none) to a host other than localhost")
	}

	from := cfg.From
	if from == "" {
		from = cfg.Username
	}
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("email: invalid from address %q (from, or username when from is empty)", from)
	}
	to, err := parseAddresses(cfg.To)
	if err != nil {
		return nil, fmt.Errorf("email: to: %w", err)
	}

	c := &Channel{
		host:     host,
		mode:     mode,
		from:     fromAddr.String(),
		fromHost: fromAddr.Address[strings.LastIndex(fromAddr.Address, "@")+1:],
		to:       to,
		password: cfg.Password,
		timeout:  cfg.Timeout.Std(),
		logger:   opts.Logger,
		tlsConfig: &tls.Config{
			ServerName:         host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.InsecureSkipVerify, // #nosec G402 -- tests and private relays only, documented
		},
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}

	c.opts = []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(c.timeout), gomail.WithTLSConfig(c.tlsConfig)}
	if helo, err := os.Hostname(); err == nil && helo != "" {
		c.opts = append(c.opts, gomail.WithHELO(helo))
	}
	switch mode {
	case TLSImplicit:
		// dial does the TLS handshake; WithSSL tells go-mail not to STARTTLS.
		c.opts = append(c.opts, gomail.WithSSL())
	case TLSStartTLS:
		c.opts = append(c.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		c.opts = append(c.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		if isMicrosoft(host) {
			auth = gomail.SMTPAuthLogin
		}
		c.opts = append(c.opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}

	if c.html, err = notify.NewTemplate("email.html", cfg.TemplatePath, true); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if c.text, err = notify.NewTemplate("email.txt", "", false); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if cfg.Subject != "" {
		// A subject that fails for a message falls back to the default one.
		c.subject, err = notify.ParseTemplateWithDefault("email_subject.tmpl", "subject", cfg.Subject, false)
	} else {
		c.subject, err = notify.NewTemplate("email_subject.tmpl", "", false)
	}
	if err != nil {
		return nil, fmt.Errorf("email: subject: %w", err)
	}
	// Build one client now so option errors surface at startup.
	if _, err := gomail.NewClient(host, c.opts...); err != nil {
		return nil, notify.Redact(fmt.Errorf("email: %w", err), cfg.Password)
	}
	return c, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "email" }

// Send renders and sends msg to msg.Destination["to"] or the configured
// recipients. It returns the thread's Message-ID (msg.Ref when set).
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil {
		return "", notify.Permanent(errors.New("email: nil message"))
	}
	to := c.to
	if v := msg.Destination["to"]; v != "" {
		var err error
		if to, err = parseAddresses(v); err != nil {
			return "", notify.Permanent(fmt.Errorf("email: destination to: %w", err))
		}
	}
	if len(to) == 0 {
		return "", notify.Permanent(errors.New("email: no recipients"))
	}
	m, id, err := c.build(msg, to)
	if err != nil {
		return "", notify.Permanent(err)
	}
	if err := c.deliver(ctx, m); err != nil {
		return "", err
	}
	c.logger.Debug("email sent", "event", msg.Event, "message_id", id, "recipients", len(to))
	if ref := threadRef(msg.Ref); ref != "" {
		return ref, nil
	}
	return id, nil
}

// SendNotice sends n as a plain-text email to n.To (or the configured
// recipients), its subject n.Subject (or its text).
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	to := c.to
	if n.To != "" {
		var err error
		if to, err = parseAddresses(n.To); err != nil {
			return notify.Permanent(fmt.Errorf("email: notice to: %w", err))
		}
	}
	if len(to) == 0 {
		return notify.Permanent(errors.New("email: no recipients"))
	}
	subject := n.Subject
	if subject == "" {
		subject = n.Text
	}
	m, err := c.envelope(to, CleanSubject(subject), n.DeliveryID, n.SentAt, notify.EventNotice)
	if err != nil {
		return notify.Permanent(err)
	}
	m.SetBodyString(gomail.TypeTextPlain, n.Text)
	if err := c.deliver(ctx, m); err != nil {
		return err
	}
	c.logger.Debug("email notice sent", "recipients", len(to))
	return nil
}

// deliver hands m to the SMTP server within the channel's timeout.
func (c *Channel) deliver(ctx context.Context, m *gomail.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	client, err := gomail.NewClient(c.host, append(slices.Clip(c.opts), gomail.WithDialContextFunc(c.dialer(ctx)))...)
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("email: %w", err), c.password))
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return c.classify(err)
	}
	if err := client.SendWithSMTPClient(conn, m); err != nil {
		return c.classify(err)
	}
	// The message is accepted: a failed QUIT must not cause a resend.
	if err := client.CloseWithSMTPClient(conn); err != nil {
		c.logger.Debug("email QUIT failed", "error", notify.Redact(err, c.password).Error())
	}
	return nil
}

// build renders msg into a MIME message.
func (c *Channel) build(msg *notify.Message, to []string) (*gomail.Msg, string, error) {
	subject := msg.Destination["subject"] // literal text, never a template
	if subject == "" {
		s, err := c.subject.Execute(msg)
		if err != nil {
			return nil, "", fmt.Errorf("email: subject: %w", err)
		}
		subject = s
	}
	subject = CleanSubject(subject)
	html, err := c.html.Execute(msg)
	if err != nil {
		return nil, "", fmt.Errorf("email: %w", err)
	}
	text, err := c.text.Execute(msg)
	if err != nil {
		return nil, "", fmt.Errorf("email: %w", err)
	}

	m, err := c.envelope(to, subject, msg.DeliveryID, msg.SentAt, msg.Event)
	if err != nil {
		return nil, "", err
	}
	id := messageID(msg.DeliveryID, c.fromHost)
	if ref := threadRef(msg.Ref); ref != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+ref+">")
		m.SetGenHeader(gomail.HeaderReferences, "<"+ref+">")
	}
	if msg.Incident != nil {
		m.SetGenHeader(gomail.Header("X-Tocsin-Incident"), headerSafe(msg.Incident.ID))
	}
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	return m, id, nil
}

// envelope starts a message from the channel's sender to to, with its
// subject (cleaned already), Message-ID, date and X-Tocsin-Event headers.
func (c *Channel) envelope(to []string, subject, deliveryID string, sentAt time.Time, event string) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.From(c.from); err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	if err := m.To(to...); err != nil {
		return nil, fmt.Errorf("email: to: %w", err)
	}
	m.Subject(subject)
	m.SetUserAgent("tocsin")
	m.SetMessageIDWithValue(messageID(deliveryID, c.fromHost))
	if !sentAt.IsZero() {
		m.SetDateWithValue(sentAt)
	} else {
		m.SetDate()
	}
	m.SetGenHeader(gomail.Header("X-Tocsin-Event"), headerSafe(event))
	return m, nil
}

// dialer connects for one send and closes the connection when ctx ends, so
// the channel's timeout bounds the whole SMTP session, not only each step.
func (c *Channel) dialer(ctx context.Context) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		var conn net.Conn
		var err error
		if c.mode == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: &d, Config: c.tlsConfig}).DialContext(dialCtx, network, addr)
		} else {
			conn, err = d.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
}

// classify marks SMTP 5xx replies permanent; 4xx replies and network
// errors stay retryable. The password never appears in the result.
func (c *Channel) classify(err error) error {
	wrapped := fmt.Errorf("email: %w", err)
	var (
		reply   *textproto.Error
		sendErr *gomail.SendError
		certErr *tls.CertificateVerificationError
	)
	code := 0
	switch {
	case errors.As(err, &reply):
		code = reply.Code
	case errors.As(err, &sendErr):
		code = sendErr.ErrorCode()
	}
	switch {
	case c.mode == TLSStartTLS && noStartTLS(err):
		// Retrying will not make the relay offer STARTTLS; name the setting
		// for relays without TLS.
		wrapped = notify.Permanent(fmt.Errorf("%w (for a relay without TLS set alert.email.tls: none, which sends a password only to localhost; for SMTPS set tls: implicit)", wrapped))
	case code >= 500 || errors.As(err, &certErr):
		wrapped = notify.Permanent(wrapped)
	}
	return notify.Redact(wrapped, c.password)
}

// noStartTLS reports go-mail's refusal to go on without STARTTLS
// (TLSMandatory against a server that does not offer it). go-mail has no
// error value or type for it, so its message is matched;
// TestStartTLSRequired pins it.
func noStartTLS(err error) bool {
	return strings.Contains(err.Error(), "does not support STARTTLS")
}

// CleanSubject makes s safe as a Subject header: control characters
// (CR and LF included) and Unicode line separators become spaces, runs of
// spaces collapse, and the result is at most 250 characters.
func CleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxSubject {
		s = string(r[:maxSubject-1]) + "…"
	}
	return s
}

// parseAddresses parses a comma-separated address list.
func parseAddresses(list string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, err := mail.ParseAddress(part)
		if err != nil {
			return nil, fmt.Errorf("invalid address %q", CleanSubject(part))
		}
		out = append(out, a.Address)
	}
	return out, nil
}

// messageID builds "<delivery>@<from host>": the same on every retry of a
// delivery, so receiving systems can drop duplicates.
func messageID(deliveryID, host string) string {
	local := strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_", r)) {
			return r
		}
		return -1
	}, deliveryID)
	if local == "" {
		local = uuid.NewString()
	}
	if host == "" || !isMsgIDText(host) {
		host = "tocsin"
	}
	return "tocsin." + strings.Trim(local, ".") + "@" + host
}

// threadRef returns ref when it is a plausible Message-ID, else "".
func threadRef(ref string) string {
	ref = strings.Trim(ref, "<>")
	if ref == "" || len(ref) > 250 || !strings.Contains(ref, "@") || !isMsgIDText(ref) {
		return ""
	}
	return ref
}

func isMsgIDText(s string) bool {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>()[]\,;:"`, r) {
			return false
		}
	}
	return true
}

func headerSafe(s string) string { return CleanSubject(s) }

func isLocalhost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isMicrosoft(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range []string{"office365.com", "outlook.com", "microsoft.com"} {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}
