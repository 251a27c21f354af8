package ingest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"tocsin"
)

// SNS message types.
const (
	snsNotification             = "Notification"
	snsSubscriptionConfirmation = "SubscriptionConfirmation"
	snsUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// SNSMessage is an Amazon SNS HTTP(S) delivery: a Notification, a
// SubscriptionConfirmation or an UnsubscribeConfirmation. Field names are
// those of the JSON body SNS posts. For a CloudWatch alarm, Message holds
// the alarm JSON that CloudWatchAlarm decodes.
type SNSMessage struct {
	Type             string `json:"Type"`
	MessageId        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	SubscribeURL     string `json:"SubscribeURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
}

// ParseSNS decodes an SNS delivery and checks that it has the fields its
// Type needs. It does not check the signature: call SNSVerifier.Verify
// before trusting the message, and compare TopicArn with the topic you
// subscribed to. Malformed input is an EINVALID *tocsin.Error.
func ParseSNS(body []byte) (*SNSMessage, error) {
	const source = "sns"
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	var m SNSMessage
	if err := decode(source, "", body, &m); err != nil {
		return nil, err
	}
	required := []string{"MessageId", "TopicArn", "Timestamp"}
	switch m.Type {
	case snsNotification:
		required = append(required, "Message")
	case snsSubscriptionConfirmation, snsUnsubscribeConfirmation:
		required = append(required, "Token", "SubscribeURL")
	case "":
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "Type")
	default:
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s: %q must be %s, %s or %s", source, "Type",
			snsNotification, snsSubscriptionConfirmation, snsUnsubscribeConfirmation)
	}
	for _, k := range required {
		if strings.TrimSpace(m.field(k)) == "" {
			return nil, tocsin.Errorf(tocsin.EINVALID, "%s: %q is required for %s", source, k, m.Type)
		}
	}
	return &m, nil
}

// field returns the field named k, for the keys of the canonical string.
func (m *SNSMessage) field(k string) string {
	switch k {
	case "Type":
		return m.Type
	case "MessageId":
		return m.MessageId
	case "Token":
		return m.Token
	case "TopicArn":
		return m.TopicArn
	case "Subject":
		return m.Subject
	case "Message":
		return m.Message
	case "SubscribeURL":
		return m.SubscribeURL
	case "Timestamp":
		return m.Timestamp
	}
	return ""
}

// stringToSign builds the canonical string SNS signs for m's Type: each
// key, a newline, its value, a newline, in the order AWS documents.
func (m *SNSMessage) stringToSign() (string, bool) {
	var keys []string
	switch m.Type {
	case snsNotification:
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
		if m.Subject == "" {
			keys = []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
		}
	case snsSubscriptionConfirmation, snsUnsubscribeConfirmation:
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	default:
		return "", false
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(m.field(k))
		b.WriteByte('\n')
	}
	return b.String(), true
}

// SNS verification limits.
const (
	// snsMaxSkew is how far a message's Timestamp may be from now.
	snsMaxSkew = time.Hour
	// snsFetchTimeout bounds fetching a certificate or confirming a subscription.
	snsFetchTimeout = 5 * time.Second
	// snsMaxCertBytes bounds the certificate download.
	snsMaxCertBytes = 64 << 10
	// snsMaxCachedCerts bounds the certificate cache; SNS uses a handful.
	snsMaxCachedCerts = 64
)

// snsHost matches the hosts SNS signs from and confirms subscriptions at.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// SNSVerifier verifies the signatures of SNS deliveries and confirms
// subscriptions. Its zero value is ready to use; it caches certificates,
// so keep one verifier (it is safe for concurrent use) and do not copy it.
//
// Verify checks, in order: the Timestamp is within an hour of now; the
// SignatureVersion is 1 (SHA1withRSA) or 2 (SHA256withRSA); the
// SigningCertURL is https, on sns.<region>.amazonaws.com (or .com.cn) with
// no port or user info, and its path ends in .pem; the certificate there
// (fetched within 5s, no redirects followed, then cached by URL until it
// expires) chains to the trusted roots; and the signature over the
// canonical string AWS documents for the message Type is valid.
type SNSVerifier struct {
	// Client fetches certificates and subscription URLs; nil means a client
	// with a 5s timeout. Redirects are never followed, whatever the client.
	Client *http.Client
	// Roots, when set, replaces the system trust anchors (tests use a
	// self-made CA).
	Roots *x509.CertPool
	// AllowHost, when set, replaces the amazonaws.com host check and allows
	// a port (tests serve the certificate from 127.0.0.1).
	AllowHost func(host string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

func unauthorized(format string, args ...any) error {
	return tocsin.Errorf(tocsin.EUNAUTHORIZED, "sns: "+format, args...)
}

// Verify checks that m was signed by Amazon SNS and is recent. A message
// that fails is an EUNAUTHORIZED *tocsin.Error; when the certificate cannot
// be fetched (a network error or a 5xx) the error is EUNAVAILABLE, so the
// handler answers 5xx and SNS retries.
func (v *SNSVerifier) Verify(ctx context.Context, m *SNSMessage) error {
	if m == nil {
		return unauthorized("no message")
	}
	now := v.now()
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	switch {
	case err != nil:
		return unauthorized("bad Timestamp %q", m.Timestamp)
	case now.Sub(ts) > snsMaxSkew:
		return unauthorized("message is too old (Timestamp %s)", m.Timestamp)
	case ts.Sub(now) > snsMaxSkew:
		return unauthorized("message is from the future (Timestamp %s)", m.Timestamp)
	}
	var hash crypto.Hash
	var digest []byte
	canonical, ok := m.stringToSign()
	if !ok {
		return unauthorized("cannot verify message of Type %q", m.Type)
	}
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(canonical))
		hash, digest = crypto.SHA1, sum[:]
	case "2":
		sum := sha256.Sum256([]byte(canonical))
		hash, digest = crypto.SHA256, sum[:]
	default:
		return unauthorized("unsupported SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return unauthorized("Signature is missing or not base64")
	}
	cert, err := v.certificate(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return unauthorized("signing certificate has no RSA key")
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return unauthorized("bad signature")
	}
	return nil
}

// Confirm confirms a subscription by fetching m's SubscribeURL, which must
// be an https URL on an SNS host (the AllowHost rule applies). Verify the
// message first: Confirm only checks the URL.
func (v *SNSVerifier) Confirm(ctx context.Context, m *SNSMessage) error {
	if m == nil || m.Type != snsSubscriptionConfirmation {
		return tocsin.Errorf(tocsin.EINVALID, "sns: only a SubscriptionConfirmation can be confirmed")
	}
	u, err := v.checkURL(m.SubscribeURL, "SubscribeURL", false)
	if err != nil {
		return err
	}
	_, err = v.get(ctx, u, "confirming subscription", tocsin.EINVALID)
	return err
}

func (v *SNSVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkURL parses raw and checks it against the host rule; certificate
// URLs must also end in .pem.
func (v *SNSVerifier) checkURL(raw, name string, certificate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Host == "" {
		return nil, unauthorized("%s is not an https URL", name)
	}
	host := strings.ToLower(u.Hostname())
	if v.AllowHost != nil {
		if !v.AllowHost(host) {
			return nil, unauthorized("%s host %q is not allowed", name, host)
		}
	} else if !snsHost.MatchString(host) || u.Port() != "" {
		return nil, unauthorized("%s host %q is not an SNS host", name, u.Host)
	}
	if certificate && !strings.HasSuffix(u.Path, ".pem") {
		return nil, unauthorized("%s does not end in .pem", name)
	}
	return u, nil
}

// certificate returns the verified signing certificate at raw, from the
// cache while it is valid.
func (v *SNSVerifier) certificate(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := v.checkURL(raw, "SigningCertURL", true)
	if err != nil {
		return nil, err
	}
	now := v.now()
	v.mu.Lock()
	cert := v.certs[raw]
	v.mu.Unlock()
	if cert != nil && now.After(cert.NotBefore) && now.Before(cert.NotAfter) {
		return cert, nil
	}
	body, err := v.get(ctx, u, "fetching signing certificate", tocsin.EUNAUTHORIZED)
	if err != nil {
		return nil, err
	}
	cert, err = v.parseChain(body, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.certs == nil || len(v.certs) >= snsMaxCachedCerts {
		v.certs = make(map[string]*x509.Certificate)
	}
	v.certs[raw] = cert
	v.mu.Unlock()
	return cert, nil
}

// parseChain reads PEM certificates (the leaf first, then any
// intermediates) and verifies the leaf against the roots at now.
func (v *SNSVerifier) parseChain(data []byte, now time.Time) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, unauthorized("signing certificate does not parse")
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, unauthorized("no certificate at SigningCertURL")
	}
	opts := x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return nil, unauthorized("signing certificate is not trusted")
	}
	return certs[0], nil
}

// get fetches u without following redirects, within snsFetchTimeout, and
// returns at most snsMaxCertBytes of the body. A network error or a 5xx is
// EUNAVAILABLE; any other status but 200 gets the code badStatus.
func (v *SNSVerifier) get(ctx context.Context, u *url.URL, doing, badStatus string) ([]byte, error) {
	client := &http.Client{Timeout: snsFetchTimeout}
	if v.Client != nil {
		c := *v.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithTimeout(ctx, snsFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, unauthorized("%s: bad URL", doing)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EUNAVAILABLE, "sns: %s from %s failed", doing, u.Host)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, snsMaxCertBytes))
	switch {
	case resp.StatusCode >= 500:
		return nil, tocsin.Errorf(tocsin.EUNAVAILABLE, "sns: %s from %s: %s", doing, u.Host, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, tocsin.Errorf(badStatus, "sns: %s from %s: %s", doing, u.Host, resp.Status)
	case err != nil:
		return nil, tocsin.Errorf(tocsin.EUNAVAILABLE, "sns: %s from %s: reading the body failed", doing, u.Host)
	}
	return body, nil
}
