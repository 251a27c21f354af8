package snssms_test

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/snssms"
)

func newProvider(t *testing.T, cfg config.SNSSMS, opts snssms.Options) *snssms.Provider {
	t.Helper()
	if cfg.Timeout == 0 && opts.Timeout == 0 {
		cfg.Timeout = config.Duration(2 * time.Second)
	}
	p, err := snssms.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPublish(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	p := newProvider(t, config.SNSSMS{Region: "eu-west-1", Endpoint: fake.URL, SenderID: "tocsin"}, snssms.Options{})
	id, err := p.SendSMS(context.Background(), &notify.SMS{To: " +15551230001", Body: "Incident 42 opened: db down", StatusCallback: "https://ignored.example/"})
	if err != nil {
		t.Fatal(err)
	}
	if id != "00000001-0000-4000-8000-000000000000" {
		t.Errorf("id = %q", id)
	}
	calls := fake.calls()
	if len(calls) != 1 {
		t.Fatalf("%d Publish calls", len(calls))
	}
	c := calls[0]
	if c.PhoneNumber != "+15551230001" || c.Message != "Incident 42 opened: db down" || c.Region != "eu-west-1" || c.AccessKeyID != accessKeyID {
		t.Errorf("Publish = %+v", c)
	}
	want := map[string]string{"AWS.SNS.SMS.SMSType": "String:Transactional", "AWS.SNS.SMS.SenderID": "String:tocsin"}
	if len(c.Attributes) != 2 || c.Attributes["AWS.SNS.SMS.SMSType"] != want["AWS.SNS.SMS.SMSType"] || c.Attributes["AWS.SNS.SMS.SenderID"] != want["AWS.SNS.SMS.SenderID"] {
		t.Errorf("attributes = %v, want %v", c.Attributes, want)
	}
	if p.Name() != "sns" {
		t.Errorf("Name = %q", p.Name())
	}
}

func TestPromotionalWithoutSenderAndLongBody(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL, SMSType: "promotional"}, snssms.Options{})
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: strings.Repeat("ü", 2000)}); err != nil {
		t.Fatal(err)
	}
	c := fake.calls()[0]
	if len(c.Attributes) != 1 || c.Attributes["AWS.SNS.SMS.SMSType"] != "String:Promotional" {
		t.Errorf("attributes = %v", c.Attributes)
	}
	if n := len([]rune(c.Message)); n != snssms.MaxBodyLength || c.Region != "us-east-1" {
		t.Errorf("message of %d characters, region %q", n, c.Region)
	}
}

func TestCredentialsOption(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDOTHER", "other-secret", ""),
	})
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if c := fake.calls()[0]; c.AccessKeyID != "AKIDOTHER" {
		t.Errorf("access key %q", c.AccessKeyID)
	}
}

func TestErrorClassification(t *testing.T) {
	setEnv(t)
	for _, tc := range []struct {
		name       string
		fault      fault
		to         string
		permanent  bool
		retryAfter time.Duration
		code       string
	}{
		{"throttling 400", fault{Status: 400, Code: "Throttling"}, "", false, 0, "Throttling"},
		{"throttled", fault{Status: 400, Code: "Throttled"}, "", false, 0, "Throttled"},
		{"429 with Retry-After", fault{Status: 429, RetryAfter: "5"}, "", false, 5 * time.Second, "Throttling"},
		{"internal error", fault{Status: 500}, "", false, 0, "InternalError"},
		{"503 unknown code", fault{Status: 503, Code: "Overloaded", RetryAfter: "2"}, "", false, 2 * time.Second, "Overloaded"},
		{"invalid parameter", fault{}, "555", true, 0, "InvalidParameter"},
		{"opted out", fault{}, "+15550000999", true, 0, "OptedOut"},
		{"authorization error", fault{Status: 403, Code: "AuthorizationError"}, "", true, 0, "AuthorizationError"},
		{"bad key", fault{Status: 403, Code: "InvalidClientTokenId"}, "", true, 0, "InvalidClientTokenId"},
		{"400 unknown code", fault{Status: 400, Code: "Whatever"}, "", true, 0, "Whatever"},
		{"expired token", fault{Status: 403, Code: "ExpiredToken"}, "", false, 0, "ExpiredToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSNS(t, false)
			p := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{})
			if tc.fault.Status != 0 {
				fake.failNext(1, tc.fault)
			}
			to := tc.to
			if to == "" {
				to = "+15551230001"
			}
			_, err := p.SendSMS(context.Background(), &notify.SMS{To: to, Body: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			permanent, after := notify.Classify(err)
			if permanent != tc.permanent || after != tc.retryAfter {
				t.Errorf("%v: permanent %v retry after %v, want %v %v", err, permanent, after, tc.permanent, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.code) || strings.Contains(err.Error(), secretAccessKey) {
				t.Errorf("error %q: want the code %s and no secret", err, tc.code)
			}
			if n := fake.count(); n != 1 {
				t.Errorf("%d requests: the SDK must not retry", n)
			}
		})
	}
}

func TestTimeoutOnHangingServer(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	fake.failNext(1, fault{Hang: true})
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL, Timeout: config.Duration(200 * time.Millisecond)}, snssms.Options{})
	start := time.Now()
	_, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	if permanent, _ := notify.Classify(err); err == nil || permanent || strings.Contains(err.Error(), secretAccessKey) {
		t.Errorf("hang: %v (want a retryable error without the secret)", err)
	}
}

func TestOptionsTimeout(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	fake.failNext(1, fault{Hang: true})
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{Timeout: 150 * time.Millisecond})
	start := time.Now()
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Options.Timeout not applied: %v after %v", err, time.Since(start))
	}
}

// TestCABundle checks the SDK's own client is used, so AWS_CA_BUNDLE (set
// in this sandbox) works: the fake's TLS certificate is trusted only
// through it.
func TestCABundle(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, true)
	untrusted := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{})
	if _, err := untrusted.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}); err == nil {
		t.Fatal("the fake's certificate was trusted without the bundle")
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{})
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}); err != nil {
		t.Fatalf("with AWS_CA_BUNDLE: %v", err)
	}
}

func TestRejectsEmptyMessages(t *testing.T) {
	setEnv(t)
	fake := newFakeSNS(t, false)
	p := newProvider(t, config.SNSSMS{Endpoint: fake.URL}, snssms.Options{})
	for name, m := range map[string]*notify.SMS{"nil": nil, "no To": {Body: "x"}, "no Body": {To: "+15551230001", Body: "\n"}} {
		_, err := p.SendSMS(context.Background(), m)
		if permanent, _ := notify.Classify(err); err == nil || !permanent {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fake.count() != 0 {
		t.Errorf("%d requests sent", fake.count())
	}
}

func TestNewValidates(t *testing.T) {
	setEnv(t)
	for key, cfg := range map[string]config.SNSSMS{
		"paging.sns.sms_type":  {SMSType: "Urgent"},
		"paging.sns.sender_id": {SenderID: "TooLongSender1"},
		"paging.sns.endpoint":  {Endpoint: "sns.local:4566"},
	} {
		if _, err := snssms.New(context.Background(), cfg, snssms.Options{}); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: %v", key, err)
		}
	}
	for _, id := range []string{"12345", "a b", "ü"} {
		if _, err := snssms.New(context.Background(), config.SNSSMS{SenderID: id}, snssms.Options{}); err == nil {
			t.Errorf("sender_id %q accepted", id)
		}
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := snssms.New(context.Background(), config.SNSSMS{}, snssms.Options{}); err == nil || !strings.HasPrefix(err.Error(), "paging.sns.region:") {
		t.Errorf("no region: %v", err)
	}
}
