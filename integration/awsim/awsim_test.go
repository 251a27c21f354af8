package awsim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/integration/awsim"
	"tocsin/integration/integrationtest"
	"tocsin/notify"
)

var (
	plan      = integrationtest.ResponsePlanARN("db-oncall")
	otherPlan = integrationtest.ResponsePlanARN("payments-oncall")
	now       = time.Date(2026, 3, 1, 12, 35, 0, 0, time.UTC)
)

func newProvider(t *testing.T, fake *integrationtest.AWS, cfg config.AWSIncidentManager, timeout time.Duration) *awsim.Provider {
	t.Helper()
	if cfg.ResponsePlanARN == "" {
		cfg.ResponsePlanARN = plan
	}
	if cfg.OtherResponsePlanARNs == nil {
		cfg.OtherResponsePlanARNs = map[string]string{"payments": otherPlan}
	}
	p, err := awsim.New(context.Background(), cfg, awsim.Options{
		Credentials: fake.Credentials(),
		Timeout:     timeout,
		Now:         func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	integrationtest.Run(t, integrationtest.Suite{
		New: func(t *testing.T, url string, timeout time.Duration) integration.Provider {
			return newProvider(t, fake, config.AWSIncidentManager{Region: "eu-west-1", Endpoint: url}, timeout)
		},
		Fake: fake, URL: fake.URL,
		Secrets: []string{integrationtest.AWSSecretAccessKey},
	})
}

func TestStartIncidentCarriesRealContext(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p := newProvider(t, fake, config.AWSIncidentManager{Region: "eu-west-1", Endpoint: fake.URL}, time.Second)
	e := integrationtest.SampleEscalation()
	ref, err := p.Trigger(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "arn:aws:ssm-incidents::123456789012:incident-record/db-oncall/") {
		t.Errorf("ref = %q", ref)
	}
	starts := fake.Starts()
	if len(starts) != 1 {
		t.Fatalf("%d StartIncident calls", len(starts))
	}
	s := starts[0]
	if s.ResponsePlanArn != plan || s.Title != e.Title || s.Impact != 1 || s.ClientToken != "tocsin-inc_01" ||
		s.Region != "eu-west-1" || s.AccessKeyID != integrationtest.AWSAccessKeyID {
		t.Errorf("StartIncident = %+v", s)
	}
	td := s.TriggerDetails
	if td.Source != "tocsin" || time.Unix(int64(td.Timestamp), 0).UTC() != now {
		t.Errorf("triggerDetails = %+v", td)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(td.RawData), &m); err != nil {
		t.Fatalf("rawData %q: %v", td.RawData, err)
	}
	if m["incident_id"] != "inc_01" || m["url"] != e.URL || m["severity"] != "critical" || m["source"] != "alertmanager" ||
		m["impact"] != float64(1) || m["summary"] != e.Summary || m["dedup_key"] != e.DedupKey {
		t.Errorf("rawData = %s", td.RawData)
	}
	if labels, _ := m["labels"].(map[string]any); labels["alertname"] != "PostgresqlDown" {
		t.Errorf("rawData.labels = %v", m["labels"])
	}
	if len(s.RelatedItems) != 1 || s.RelatedItems[0] != (integrationtest.AWSRelatedItem{Type: "OTHER", Title: "tocsin incident", URL: e.URL}) {
		t.Errorf("relatedItems = %+v", s.RelatedItems)
	}

	if err := p.Resolve(context.Background(), e, ref); err != nil {
		t.Fatal(err)
	}
	if u := fake.Updates(); len(u) != 1 || u[0].Arn != ref || u[0].Status != "RESOLVED" {
		t.Errorf("updates = %+v", u)
	}
	if inc := fake.Incidents(); len(inc) != 1 || inc[0].Status != "RESOLVED" {
		t.Errorf("incidents = %+v", inc)
	}
}

func TestTargetAndDefaults(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p := newProvider(t, fake, config.AWSIncidentManager{Endpoint: fake.URL}, time.Second)
	if !p.HasTarget("payments") || p.HasTarget("db") || p.Name() != "aws_incident_manager" {
		t.Error("HasTarget or Name is wrong")
	}
	e := &integration.Escalation{IncidentID: "inc_02", Impact: 9, Target: "payments"}
	if _, err := p.Trigger(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	s := fake.Starts()[0]
	// No title, impact or URL: the response plan's template applies.
	if s.ResponsePlanArn != otherPlan || s.Title != "" || s.Impact != 0 || s.ClientToken != "tocsin-inc_02" ||
		len(s.RelatedItems) != 0 || s.Region != integrationtest.AWSRegion {
		t.Errorf("StartIncident = %+v", s)
	}
}

func TestRegionFromARN(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	regional := "arn:aws:ssm-incidents:ap-southeast-2:123456789012:response-plan/db"
	p := newProvider(t, fake, config.AWSIncidentManager{ResponsePlanARN: regional, Endpoint: fake.URL}, time.Second)
	if _, err := p.Trigger(context.Background(), integrationtest.SampleEscalation()); err != nil {
		t.Fatal(err)
	}
	if r := fake.Starts()[0].Region; r != "ap-southeast-2" {
		t.Errorf("signed for region %q", r)
	}
}

func TestClassification(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p := newProvider(t, fake, config.AWSIncidentManager{Endpoint: fake.URL}, time.Second)
	for _, tc := range []struct {
		fault     integrationtest.Fault
		permanent bool
	}{
		{integrationtest.Fault{Status: 400, Code: "ThrottlingException", Message: "slow down"}, false},
		{integrationtest.Fault{Status: 409, Code: "ConflictException"}, false},
		{integrationtest.Fault{Status: 402, Code: "ServiceQuotaExceededException"}, false},
		{integrationtest.Fault{Status: 403, Code: "AccessDeniedException"}, true},
		{integrationtest.Fault{Status: 400, Code: "ValidationException"}, true},
		{integrationtest.Fault{Status: 404, Code: "ResourceNotFoundException"}, true},
		{integrationtest.Fault{Status: 418, Code: "SomethingNew"}, true},
		{integrationtest.Fault{Status: 504, Code: "SomethingNew"}, false},
	} {
		start := fake.Requests()
		fake.FailNext(1, tc.fault)
		_, err := p.Trigger(context.Background(), integrationtest.SampleEscalation())
		if perm, _ := notify.Classify(err); err == nil || perm != tc.permanent {
			t.Errorf("%d %s: got %v (permanent %v)", tc.fault.Status, tc.fault.Code, err, perm)
		}
		if n := fake.Requests() - start; n != 1 {
			t.Errorf("%d %s: %d requests; the SDK must not retry", tc.fault.Status, tc.fault.Code, n)
		}
	}
}

func TestResolveUnknownRecordIsPermanent(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p := newProvider(t, fake, config.AWSIncidentManager{Endpoint: fake.URL}, time.Second)
	err := p.Resolve(context.Background(), integrationtest.SampleEscalation(), "arn:aws:ssm-incidents::123456789012:incident-record/db-oncall/nope")
	if perm, _ := notify.Classify(err); !perm {
		t.Errorf("Resolve = %v; want permanent", err)
	}
	if perm, _ := notify.Classify(p.Resolve(context.Background(), nil, "")); !perm {
		t.Error("Resolve without a ref is not permanent")
	}
}

func TestClientToken(t *testing.T) {
	long := &integration.Escalation{DedupKey: strings.Repeat("k", 200)}
	tok := awsim.ClientToken(long)
	if len(tok) > 128 || tok != awsim.ClientToken(long) || tok == awsim.ClientToken(&integration.Escalation{DedupKey: strings.Repeat("k", 201)}) {
		t.Errorf("ClientToken = %q", tok)
	}
	if got := awsim.ClientToken(&integration.Escalation{IncidentID: "x"}); got != "tocsin-x" {
		t.Errorf("ClientToken without dedup key = %q", got)
	}
}

func TestLongInputsFitAWSLimits(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p := newProvider(t, fake, config.AWSIncidentManager{Endpoint: fake.URL}, time.Second)
	e := integrationtest.SampleEscalation()
	e.Title = strings.Repeat("t", 500)
	e.Summary = strings.Repeat("s", 20000)
	e.Labels = map[string]string{}
	for i := range 500 {
		e.Labels[strings.Repeat("l", 10)+string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", 20)
	}
	if _, err := p.Trigger(context.Background(), e); err != nil {
		t.Fatal(err) // the fake rejects what AWS would
	}
	s := fake.Starts()[0]
	if len([]rune(s.Title)) != 200 || !json.Valid([]byte(s.TriggerDetails.RawData)) {
		t.Errorf("title %d chars, rawData valid %v", len([]rune(s.Title)), json.Valid([]byte(s.TriggerDetails.RawData)))
	}
}

func TestNewValidation(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  config.AWSIncidentManager
		want string
	}{
		{config.AWSIncidentManager{}, "response_plan_arn"},
		{config.AWSIncidentManager{ResponsePlanARN: "db-oncall"}, "response_plan_arn"},
		{config.AWSIncidentManager{ResponsePlanARN: "arn:aws:sns:us-east-1:123456789012:topic"}, "response_plan_arn"},
		{config.AWSIncidentManager{ResponsePlanARN: plan, OtherResponsePlanARNs: map[string]string{"x": "nope"}}, "other_response_plan_arns.x"},
		{config.AWSIncidentManager{ResponsePlanARN: plan, Endpoint: "localhost:4566"}, "endpoint"},
	} {
		if _, err := awsim.New(ctx, tc.cfg, awsim.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := awsim.New(ctx, config.AWSIncidentManager{ResponsePlanARN: plan}, awsim.Options{}); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("New without a region = %v", err)
	}
}

// From config alone, as cmd builds it: credentials and region come from the
// environment that SetEnv prepares.
func TestDefaultCredentialChain(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	p, err := awsim.New(context.Background(), config.AWSIncidentManager{ResponsePlanARN: plan, Endpoint: fake.URL}, awsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Trigger(context.Background(), integrationtest.SampleEscalation())
	if err != nil || ref == "" {
		t.Fatalf("Trigger = %q, %v", ref, err)
	}
	if s := fake.Starts()[0]; s.AccessKeyID != integrationtest.AWSAccessKeyID || s.Region != integrationtest.AWSRegion {
		t.Errorf("signed as %s in %s", s.AccessKeyID, s.Region)
	}
}

// AWS_CA_BUNDLE (corporate proxies) works with the default client.
func TestCABundle(t *testing.T) {
	fake := integrationtest.NewAWS(t)
	fake.SetEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", path)
	p := newProvider(t, fake, config.AWSIncidentManager{Endpoint: fake.URL}, time.Second)
	if _, err := p.Trigger(context.Background(), integrationtest.SampleEscalation()); err != nil {
		t.Fatal(err)
	}
}
