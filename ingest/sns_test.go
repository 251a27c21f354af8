package ingest_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/ingest"
	"tocsin/ingest/snstest"
)

// testTopic is the topic the test notifications are published to.
const testTopic = "arn:aws:sns:us-east-1:123456789012:tocsin"

// notification returns an unsigned alarm notification sent a minute
// before now, to be signed with the given SignatureVersion.
func notification(s *snstest.Server, version string) *ingest.SNSMessage {
	const alarm = `{"AlarmName":"prod-api-5xx","NewStateValue":"ALARM","Region":"US East (N. Virginia)"}`
	return snstest.Notification(s, testTopic, alarm, now.Add(-time.Minute), version)
}

// verifier returns a verifier for s whose clock stands at now.
func verifier(s *snstest.Server, p *snstest.PKI) *ingest.SNSVerifier {
	return s.Verifier(p, func() time.Time { return now })
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tocsin.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestSNSVerify(t *testing.T) {
	p := snstest.NewPKI(t)
	s := snstest.NewServer(t, p)
	ctx := context.Background()

	for _, version := range []string{"1", "2"} {
		m := notification(s, version)
		snstest.Sign(t, p.LeafKey, m)
		if err := verifier(s, p).Verify(ctx, m); err != nil {
			t.Errorf("SignatureVersion %s: %v", version, err)
		}
	}
	noSubject := notification(s, "2")
	noSubject.Subject = ""
	snstest.Sign(t, p.LeafKey, noSubject)
	if err := verifier(s, p).Verify(ctx, noSubject); err != nil {
		t.Errorf("without Subject: %v", err)
	}
	for _, typ := range []string{"SubscriptionConfirmation", "UnsubscribeConfirmation"} {
		m := snstest.SubscriptionConfirmation(s, testTopic, now.Add(-time.Minute), "1")
		m.Type = typ
		snstest.Sign(t, p.LeafKey, m)
		if err := verifier(s, p).Verify(ctx, m); err != nil {
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
		{"untrusted cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + snstest.UntrustedCertPath }, tocsin.EUNAUTHORIZED},
		{"garbage cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + snstest.GarbageCertPath }, tocsin.EUNAUTHORIZED},
		{"missing cert", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + "/missing.pem" }, tocsin.EUNAUTHORIZED},
		{"redirect not followed", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + snstest.RedirectCertPath }, tocsin.EUNAUTHORIZED},
		{"cert server down", func(m *ingest.SNSMessage) { m.SigningCertURL = s.URL + snstest.BrokenCertPath }, tocsin.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := notification(s, "2")
			snstest.Sign(t, p.LeafKey, m)
			tc.change(m)
			wantCode(t, verifier(s, p).Verify(ctx, m), tc.code)
		})
	}
	wantCode(t, verifier(s, p).Verify(ctx, nil), tocsin.EUNAUTHORIZED)

	// Without Roots the system roots apply, which do not know the test CA.
	m := notification(s, "2")
	snstest.Sign(t, p.LeafKey, m)
	v := verifier(s, p)
	v.Roots = nil
	wantCode(t, v.Verify(ctx, m), tocsin.EUNAUTHORIZED)
}

func TestSNSVerifyCachesCertificate(t *testing.T) {
	p := snstest.NewPKI(t)
	s := snstest.NewServer(t, p)
	v := verifier(s, p)
	for range 3 {
		m := notification(s, "2")
		snstest.Sign(t, p.LeafKey, m)
		if err := v.Verify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.CertFetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}
	// Once the certificate has expired it is fetched again, and rejected.
	v.Now = func() time.Time { return p.Leaf.NotAfter.Add(24 * time.Hour) }
	m := notification(s, "2")
	m.Timestamp = v.Now().Format(time.RFC3339)
	snstest.Sign(t, p.LeafKey, m)
	wantCode(t, v.Verify(context.Background(), m), tocsin.EUNAUTHORIZED)
	if n := s.CertFetches.Load(); n != 2 {
		t.Errorf("certificate fetched %d times, want 2", n)
	}
}

// roundTripper serves every request from a function, so the real SNS host
// rule can be tested without the network.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSNSHostRule(t *testing.T) {
	p := snstest.NewPKI(t)
	var requested []string
	v := &ingest.SNSVerifier{
		Client: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			requested = append(requested, r.URL.String())
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader(string(p.LeafPEM)))}, nil
		})},
		Roots: p.Roots,
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
		snstest.Sign(t, p.LeafKey, m)
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
	p := snstest.NewPKI(t)
	s := snstest.NewServer(t, p)
	ctx := context.Background()
	m, err := ingest.ParseSNS(readFile(t, "sns_subscription_confirmation.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(m.SubscribeURL)
	m.SubscribeURL = s.URL + "/?" + u.RawQuery
	if err := verifier(s, p).Confirm(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := s.Confirms.Load(); n != 1 {
		t.Errorf("confirmed %d times", n)
	}

	other := *m
	other.SubscribeURL = strings.Replace(m.SubscribeURL, "127.0.0.1", "localhost", 1)
	wantCode(t, verifier(s, p).Confirm(ctx, &other), tocsin.EUNAUTHORIZED)
	other.SubscribeURL = strings.Replace(m.SubscribeURL, "https:", "http:", 1)
	wantCode(t, verifier(s, p).Confirm(ctx, &other), tocsin.EUNAUTHORIZED)
	// The default host rule refuses the test server.
	wantCode(t, (&ingest.SNSVerifier{}).Confirm(ctx, m), tocsin.EUNAUTHORIZED)
	other.SubscribeURL = s.URL + snstest.BrokenCertPath
	wantCode(t, verifier(s, p).Confirm(ctx, &other), tocsin.EUNAVAILABLE)
	notification := *m
	notification.Type = "Notification"
	wantCode(t, verifier(s, p).Confirm(ctx, &notification), tocsin.EINVALID)
	if n := s.Confirms.Load(); n != 1 {
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
