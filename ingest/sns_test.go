package ingest_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/ingest"
)

// snsPKI is a self-made CA with a leaf certificate that plays SNS's
// signing certificate.
type snsPKI struct {
	roots   *x509.CertPool
	leafKey *rsa.PrivateKey
	leafPEM []byte
	// otherPEM is a certificate from a CA the verifier does not trust.
	otherPEM []byte
}

var (
	pkiOnce sync.Once
	pki     snsPKI
)

func testPKI(t *testing.T) *snsPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey := mustKey(t)
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "Test SNS Root CA"},
			NotBefore:             now.Add(-24 * time.Hour),
			NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		pki.roots = x509.NewCertPool()
		pki.roots.AddCert(ca)
		pki.leafKey = mustKey(t)
		pki.leafPEM = leafCert(t, ca, caKey, pki.leafKey)
		// The "other" leaf is signed by a CA that is not in roots, so it
		// must not chain even though its key signs correctly.
		other := *caTmpl
		other.Subject = pkix.Name{CommonName: "Untrusted CA"}
		other.SerialNumber = big.NewInt(99)
		pki.otherPEM = leafCert(t, &other, mustKey(t), pki.leafKey)
	})
	if pki.roots == nil {
		t.Fatal("test PKI setup failed")
	}
	return &pki
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func leafCert(t *testing.T, ca *x509.Certificate, caKey, key *rsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// canonical writes the string SNS signs, independently of the package.
func canonical(m *ingest.SNSMessage) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == "Notification" {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

func sign(t *testing.T, key *rsa.PrivateKey, m *ingest.SNSMessage) {
	t.Helper()
	var sig []byte
	var err error
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(canonical(m)))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	default:
		sum := sha256.Sum256([]byte(canonical(m)))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

// snsServer serves the certificates and counts fetches and confirmations.
type snsServer struct {
	*httptest.Server
	certFetches atomic.Int32
	confirms    atomic.Int32
}

func newSNSServer(t *testing.T, p *snsPKI) *snsServer {
	s := &snsServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/SimpleNotificationService-test.pem", func(w http.ResponseWriter, r *http.Request) {
		s.certFetches.Add(1)
		w.Write(p.leafPEM)
	})
	mux.HandleFunc("/untrusted.pem", func(w http.ResponseWriter, r *http.Request) { w.Write(p.otherPEM) })
	mux.HandleFunc("/garbage.pem", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "not a certificate") })
	mux.HandleFunc("/broken.pem", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	mux.HandleFunc("/redirect.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/SimpleNotificationService-test.pem", http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") != "ConfirmSubscription" {
			http.NotFound(w, r)
			return
		}
		s.confirms.Add(1)
		io.WriteString(w, "<ConfirmSubscriptionResponse/>")
	})
	s.Server = httptest.NewTLSServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *snsServer) verifier(p *snsPKI) *ingest.SNSVerifier {
	return &ingest.SNSVerifier{
		Client:    s.Client(),
		Roots:     p.roots,
		AllowHost: func(host string) bool { return host == "127.0.0.1" },
		Now:       func() time.Time { return now },
	}
}

func notification(s *snsServer, version string) *ingest.SNSMessage {
	return &ingest.SNSMessage{
		Type:             "Notification",
		MessageId:        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		TopicArn:         "arn:aws:sns:us-east-1:123456789012:tocsin",
		Subject:          `ALARM: "prod-api-5xx" in US East (N. Virginia)`,
		Message:          `{"AlarmName":"prod-api-5xx","NewStateValue":"ALARM"}`,
		Timestamp:        now.Add(-time.Minute).Format("2006-01-02T15:04:05.000Z"),
		SignatureVersion: version,
		SigningCertURL:   s.URL + "/SimpleNotificationService-test.pem",
		UnsubscribeURL:   s.URL + "/?Action=Unsubscribe",
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tocsin.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestSNSVerify(t *testing.T) {
	p := testPKI(t)
	s := newSNSServer(t, p)
	ctx := context.Background()

	for _, version := range []string{"1", "2"} {
		m := notification(s, version)
		sign(t, p.leafKey, m)
		if err := s.verifier(p).Verify(ctx, m); err != nil {
			t.Errorf("SignatureVersion %s: %v", version, err)
		}
	}
	noSubject := notification(s, "2")
	noSubject.Subject = ""
	sign(t, p.leafKey, noSubject)
	if err := s.verifier(p).Verify(ctx, noSubject); err != nil {
		t.Errorf("without Subject: %v", err)
	}
	for _, typ := range []string{"SubscriptionConfirmation", "UnsubscribeConfirmation"} {
		m := notification(s, "1")
		m.Type, m.Subject, m.Token = typ, "", "2336412f37fb687f5d51"
		m.SubscribeURL = s.URL + "/?Action=ConfirmSubscription&Token=2336412f37fb687f5d51"
		sign(t, p.leafKey, m)
		if err := s.verifier(p).Verify(ctx, m); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}

	tests := []struct {
		name   string
		change func(m *ingest.SNSMessage) // after signing
		code   string
	}{
		{"tampered message", func(m *ingest.SNSMessage) { m.Message = `{"AlarmName":"other"}` }, tocsin.EUNAUTHORIZED},
		{"tampered subject", func(m *ingest.SNSMessage) { m.Subject = "OK" }, tocsin.EUNAUTHORIZED},
		{"tampered type", func(m *ingest.SNSMessage) { m.Type = "UnsubscribeConfirmation" }, tocsin.EUNAUTHORIZED},
		{"version swapped", func(m *ingest.SNSMessage) { m.SignatureVersion = "1" }, tocsin.EUNAUTHORIZED},
		{"unknown version", func(m *ingest.SNSMessage) { m.SignatureVersion = "3" }, tocsin.EUNAUTHORIZED},
		{"not base64", func(m *ingest.SNSMessage) { m.Signature = "%%%" }, tocsin.EUNAUTHORIZED},
		{"no signature", func(m *ingest.SNSMessage) { m.Signature = "" }, tocsin.EUNAUTHORIZED},
		{"expired", func(m *ingest.SNSMessage) { m.Timestamp = now.Add(-61 * time.Minute).Format(time.RFC3339) }, tocsin.EUNAUTHORIZED},
		{"future", func(m *ingest.SNSMessage) { m.Timestamp = now.Add(61 * time.Minute).Format(time.RFC3339) }, tocsin.EUNAUTHORIZED},
		{"bad timestamp", func(m *ingest.SNSMessage) { m.Timestamp = "yesterday" }, tocsin.EUNAUTHORIZED},
		{"http cert", func(m *ingest.SNSMessage) { m.SigningCertURL = strings.Replace(m.SigningCertURL, "https:", "http:", 1) }, tocsin.EUNAUTHORIZED},
		{"not pem", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/cert.crt" }, tocsin.EUNAUTHORIZED},
		{"wrong host", func(m *ingest.SNSMessage) {
			m.SigningCertURL = strings.Replace(m.SigningCertURL, "127.0.0.1", "localhost", 1)
		}, tocsin.EUNAUTHORIZED},
		{"untrusted cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/untrusted.pem" }, tocsin.EUNAUTHORIZED},
		{"garbage cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/garbage.pem" }, tocsin.EUNAUTHORIZED},
		{"missing cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/missing.pem" }, tocsin.EUNAUTHORIZED},
		{"redirect not followed", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/redirect.pem" }, tocsin.EUNAUTHORIZED},
		{"cert server down", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/broken.pem" }, tocsin.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := notification(s, "2")
			sign(t, p.leafKey, m)
			tc.change(m)
			wantCode(t, s.verifier(p).Verify(ctx, m), tc.code)
		})
	}
	wantCode(t, s.verifier(p).Verify(ctx, nil), tocsin.EUNAUTHORIZED)

	// Without Roots the system roots apply, which do not know the test CA.
	m := notification(s, "2")
	sign(t, p.leafKey, m)
	v := s.verifier(p)
	v.Roots = nil
	wantCode(t, v.Verify(ctx, m), tocsin.EUNAUTHORIZED)
}

func TestSNSVerifyCachesCertificate(t *testing.T) {
	p := testPKI(t)
	s := newSNSServer(t, p)
	v := s.verifier(p)
	for range 3 {
		m := notification(s, "2")
		sign(t, p.leafKey, m)
		if err := v.Verify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.certFetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}
	// Once the certificate has expired it is fetched again, and rejected.
	v.Now = func() time.Time { return now.Add(366 * 24 * time.Hour) }
	m := notification(s, "2")
	m.Timestamp = v.Now().Format(time.RFC3339)
	sign(t, p.leafKey, m)
	wantCode(t, v.Verify(context.Background(), m), tocsin.EUNAUTHORIZED)
	if n := s.certFetches.Load(); n != 2 {
		t.Errorf("certificate fetched %d times, want 2", n)
	}
}

// roundTripper serves every request from a function, so the real SNS host
// rule can be tested without the network.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSNSHostRule(t *testing.T) {
	p := testPKI(t)
	var requested []string
	v := &ingest.SNSVerifier{
		Client: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			requested = append(requested, r.URL.String())
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader(string(p.leafPEM)))}, nil
		})},
		Roots: p.roots,
		Now:   func() time.Time { return now },
	}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true},
		{"https://SNS.EU-WEST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem", true},
		{"https://sns.us-east-1.amazonaws.com.evil.example/x.pem", false},
		{"https://evil.example/sns.us-east-1.amazonaws.com.pem", false},
		{"https://sns.us-east-1.amazonaws.com:8443/x.pem", false},
		{"https://user@sns.us-east-1.amazonaws.com/x.pem", false},
		{"http://sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com/x.pem.txt", false},
		{"https://s3.amazonaws.com/x.pem", false},
		{"https://sns.amazonaws.com/x.pem", false},
		{"//sns.us-east-1.amazonaws.com/x.pem", false},
		{"", false},
	}
	for _, tc := range tests {
		requested = nil
		m := &ingest.SNSMessage{Type: "Notification", MessageId: "1", TopicArn: "arn", Message: "m",
			Timestamp: now.Format(time.RFC3339), SignatureVersion: "2", SigningCertURL: tc.url}
		sign(t, p.leafKey, m)
		err := v.Verify(context.Background(), m)
		if tc.ok && err != nil {
			t.Errorf("%q: %v", tc.url, err)
		}
		if !tc.ok {
			wantCode(t, err, tocsin.EUNAUTHORIZED)
			if len(requested) != 0 {
				t.Errorf("%q was fetched", tc.url)
			}
		}
	}
}

func TestSNSConfirm(t *testing.T) {
	p := testPKI(t)
	s := newSNSServer(t, p)
	ctx := context.Background()
	m, err := ingest.ParseSNS(readFile(t, "sns_subscription_confirmation.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(m.SubscribeURL)
	m.SubscribeURL = s.URL + "/?" + u.RawQuery
	if err := s.verifier(p).Confirm(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := s.confirms.Load(); n != 1 {
		t.Errorf("confirmed %d times", n)
	}

	other := *m
	other.SubscribeURL = strings.Replace(m.SubscribeURL, "127.0.0.1", "localhost", 1)
	wantCode(t, s.verifier(p).Confirm(ctx, &other), tocsin.EUNAUTHORIZED)
	other.SubscribeURL = strings.Replace(m.SubscribeURL, "https:", "http:", 1)
	wantCode(t, s.verifier(p).Confirm(ctx, &other), tocsin.EUNAUTHORIZED)
	// The default host rule refuses the test server.
	wantCode(t, (&ingest.SNSVerifier{}).Confirm(ctx, m), tocsin.EUNAUTHORIZED)
	other.SubscribeURL = s.URL + "/broken.pem"
	wantCode(t, s.verifier(p).Confirm(ctx, &other), tocsin.EUNAVAILABLE)
	notification := *m
	notification.Type = "Notification"
	wantCode(t, s.verifier(p).Confirm(ctx, &notification), tocsin.EINVALID)
	if n := s.confirms.Load(); n != 1 {
		t.Errorf("confirmed %d times", n)
	}
}

func TestParseSNS(t *testing.T) {
	m, err := ingest.ParseSNS(readFile(t, "sns_notification.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "Notification" || m.TopicArn != "arn:aws:sns:us-east-1:123456789012:tocsin" ||
		!strings.HasPrefix(m.Message, `{"AlarmName":"prod-api-5xx"`) || m.SignatureVersion != "1" ||
		!strings.HasPrefix(m.SigningCertURL, "https://sns.us-east-1.amazonaws.com/") {
		t.Errorf("parsed %+v", m)
	}
	c, err := ingest.ParseSNS(readFile(t, "sns_subscription_confirmation.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "SubscriptionConfirmation" || c.Token == "" || c.SubscribeURL == "" {
		t.Errorf("parsed %+v", c)
	}
	parse := func(body []byte, _ time.Time) ([]*tocsin.Alert, error) {
		_, err := ingest.ParseSNS(body)
		return nil, err
	}
	runErrorCases(t, parse, append(commonErrors,
		errorCase{"array", `[]`, `sns: body must be a JSON object`},
		errorCase{"no type", `{"MessageId":"1"}`, `sns: "Type" is required`},
		errorCase{"bad type", `{"Type":"Hello"}`, `sns: "Type" must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation`},
		errorCase{"no message id", `{"Type":"Notification","TopicArn":"a","Timestamp":"t","Message":"m"}`, `sns: "MessageId" is required for Notification`},
		errorCase{"no message", `{"Type":"Notification","MessageId":"1","TopicArn":"a","Timestamp":"t"}`, `sns: "Message" is required for Notification`},
		errorCase{"no subscribe url", `{"Type":"SubscriptionConfirmation","MessageId":"1","TopicArn":"a","Timestamp":"t","Message":"m","Token":"x"}`,
			`sns: "SubscribeURL" is required for SubscriptionConfirmation`},
		errorCase{"message object", `{"Type":"Notification","Message":{}}`, `sns: "Message" must be a string`},
	))
}
