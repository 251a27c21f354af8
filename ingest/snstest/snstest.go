// Package snstest plays Amazon SNS in tests: a self-made PKI whose leaf
// certificate stands in for SNS's signing certificate, a signer of the
// canonical string SNS signs, builders of SNS deliveries, and a local TLS
// server that serves the certificate and answers ConfirmSubscription.
//
// A test verifies what it signs with a verifier that trusts the test CA:
//
//	pki := snstest.NewPKI(t)
//	srv := snstest.NewServer(t, pki)
//	m := snstest.Notification(srv, topicARN, alarmJSON, time.Now(), "2")
//	snstest.Sign(t, pki.LeafKey, m)
//	err := srv.Verifier(pki, nil).Verify(ctx, m)
package snstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
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

	"tocsin/ingest"
)

// The test certificates are valid over a fixed, wide window, so one PKI
// serves tests that pin their clock to a past date and tests that run on
// the wall clock.
var (
	// NotBefore is when the test certificates become valid.
	NotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	// NotAfter is when the test certificates expire.
	NotAfter = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
)

// PKI is a self-made CA with a leaf certificate that plays SNS's signing
// certificate. Treat it as read-only: NewPKI shares one PKI per process.
type PKI struct {
	// Roots holds the test CA; give it to SNSVerifier.Roots.
	Roots *x509.CertPool
	// LeafKey is the key of the signing certificate: sign with it.
	LeafKey *rsa.PrivateKey
	// Leaf is the signing certificate, valid from NotBefore to NotAfter.
	Leaf *x509.Certificate
	// LeafPEM is Leaf in PEM, as SNS serves it at its SigningCertURL.
	LeafPEM []byte
	// OtherPEM is a certificate for LeafKey issued by a CA that is not in
	// Roots, so it must not be trusted although signatures check out.
	OtherPEM []byte
}

var (
	pkiOnce sync.Once
	pki     *PKI
	pkiErr  error
)

// NewPKI returns the test PKI. RSA keys are slow to generate, so it is made
// once per process and shared by every caller.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = newPKI() })
	if pkiErr != nil {
		t.Fatalf("snstest: making the test PKI: %v", pkiErr)
	}
	return pki
}

func newPKI() (*PKI, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test SNS Root CA"},
		NotBefore:             NotBefore,
		NotAfter:              NotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &PKI{Roots: x509.NewCertPool()}
	p.Roots.AddCert(ca)
	if p.LeafKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.Leaf, p.LeafPEM, err = leafCert(ca, caKey, p.LeafKey); err != nil {
		return nil, err
	}
	// The other leaf is issued by a CA that is not in Roots, so it must not
	// chain even though its key signs correctly.
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	other := *caTmpl
	other.Subject = pkix.Name{CommonName: "Untrusted CA"}
	other.SerialNumber = big.NewInt(99)
	if _, p.OtherPEM, err = leafCert(&other, otherKey, p.LeafKey); err != nil {
		return nil, err
	}
	return p, nil
}

// leafCert issues a signing certificate for key, signed by ca.
func leafCert(ca *x509.Certificate, caKey, key *rsa.PrivateKey) (*x509.Certificate, []byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    NotBefore,
		NotAfter:     NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// canonical builds the string SNS signs for m, written here independently
// of package ingest so that the two check each other.
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

// Sign sets m.Signature to key's signature of m's canonical string: with
// SHA1withRSA when m.SignatureVersion is "1", else with SHA256withRSA (the
// hash of version "2"). Sign after the last change to a signed field;
// change one afterwards to get a message whose signature is over other text.
func Sign(t testing.TB, key *rsa.PrivateKey, m *ingest.SNSMessage) {
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
		t.Fatalf("snstest: signing: %v", err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

// Paths the Server serves.
const (
	// CertPath serves the PKI's signing certificate.
	CertPath = "/SimpleNotificationService-test.pem"
	// UntrustedCertPath serves PKI.OtherPEM, which does not chain to Roots.
	UntrustedCertPath = "/untrusted.pem"
	// GarbageCertPath serves a body that is not PEM.
	GarbageCertPath = "/garbage.pem"
	// BrokenCertPath answers 502 Bad Gateway.
	BrokenCertPath = "/broken.pem"
	// RedirectCertPath redirects to CertPath; verifiers must not follow it.
	RedirectCertPath = "/redirect.pem"
)

// Server is a local TLS server playing SNS: it serves the certificates
// at the paths above and answers GET /?Action=ConfirmSubscription.
// Other paths answer 404.
type Server struct {
	*httptest.Server
	// CertFetches counts requests for CertPath.
	CertFetches atomic.Int32
	// Confirms counts ConfirmSubscription requests.
	Confirms atomic.Int32

	mu     sync.Mutex
	tokens []string
}

// NewServer starts a Server for p, closed when the test ends.
func NewServer(t testing.TB, p *PKI) *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc(CertPath, func(w http.ResponseWriter, r *http.Request) {
		s.CertFetches.Add(1)
		w.Write(p.LeafPEM)
	})
	mux.HandleFunc(UntrustedCertPath, func(w http.ResponseWriter, r *http.Request) { w.Write(p.OtherPEM) })
	mux.HandleFunc(GarbageCertPath, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "not a certificate") })
	mux.HandleFunc(BrokenCertPath, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	mux.HandleFunc(RedirectCertPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, CertPath, http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/" || q.Get("Action") != "ConfirmSubscription" {
			http.NotFound(w, r)
			return
		}
		s.Confirms.Add(1)
		s.mu.Lock()
		s.tokens = append(s.tokens, q.Get("Token"))
		s.mu.Unlock()
		io.WriteString(w, "<ConfirmSubscriptionResponse/>")
	})
	s.Server = httptest.NewTLSServer(mux)
	t.Cleanup(s.Close)
	return s
}

// ConfirmedTokens returns the Token of each ConfirmSubscription request,
// in the order they came.
func (s *Server) ConfirmedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// Verifier returns a new verifier that trusts p's CA, reaches s with s's
// client, allows the host 127.0.0.1 (with any port) instead of SNS's
// hosts, and reads the clock now (nil means time.Now).
func (s *Server) Verifier(p *PKI, now func() time.Time) *ingest.SNSVerifier {
	return &ingest.SNSVerifier{
		Client:    s.Client(),
		Roots:     p.Roots,
		AllowHost: func(host string) bool { return host == "127.0.0.1" },
		Now:       now,
	}
}

// Notification returns an unsigned SNS Notification of message, published
// to topicARN at ts, whose SigningCertURL is s's certificate; version is
// the SignatureVersion Sign will use. When message is a CloudWatch alarm,
// Subject is what CloudWatch sets, such as `ALARM: "name" in Region`.
func Notification(s *Server, topicARN, message string, ts time.Time, version string) *ingest.SNSMessage {
	return &ingest.SNSMessage{
		Type:             "Notification",
		MessageId:        newID(),
		TopicArn:         topicARN,
		Subject:          alarmSubject(message),
		Message:          message,
		Timestamp:        timestamp(ts),
		SignatureVersion: version,
		SigningCertURL:   s.URL + CertPath,
		UnsubscribeURL:   s.URL + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(topicARN+":"+newID()),
	}
}

// SubscriptionConfirmation returns an unsigned SNS SubscriptionConfirmation
// for topicARN, sent at ts, with a fresh Token and a SubscribeURL on s;
// version is the SignatureVersion Sign will use.
func SubscriptionConfirmation(s *Server, topicARN string, ts time.Time, version string) *ingest.SNSMessage {
	var b [32]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	return &ingest.SNSMessage{
		Type:      "SubscriptionConfirmation",
		MessageId: newID(),
		Token:     token,
		TopicArn:  topicARN,
		Message: "You have chosen to subscribe to the topic " + topicARN +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL: s.URL + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topicARN) +
			"&Token=" + token,
		Timestamp:        timestamp(ts),
		SignatureVersion: version,
		SigningCertURL:   s.URL + CertPath,
	}
}

// timestamp formats t as SNS does: UTC, milliseconds, a Z.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// newID returns a random UUID-shaped message id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// alarmSubject returns the Subject CloudWatch gives the notification of an
// alarm message, or "" when message is not one.
func alarmSubject(message string) string {
	var alarm struct{ AlarmName, NewStateValue, Region string }
	if json.Unmarshal([]byte(message), &alarm) != nil || alarm.AlarmName == "" {
		return ""
	}
	subject := fmt.Sprintf("%s: %q", alarm.NewStateValue, alarm.AlarmName)
	if alarm.Region != "" {
		subject += " in " + alarm.Region
	}
	return subject
}
