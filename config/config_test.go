package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsWithoutFile(t *testing.T) {
	res, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.Port != 3000 || c.Host != "0.0.0.0" || c.DatabaseURL() != "sqlite://data/tocsin.db" {
		t.Fatalf("defaults: %+v %s", c, c.DatabaseURL())
	}
}

func TestVersusFileLoads(t *testing.T) {
	res, err := Load("testdata/versus.yaml", env(map[string]string{
		"SLACK_TOKEN": "xoxb-1", "SLACK_CHANNEL_ID": "C123", "REDIS_HOST": "r", "REDIS_PORT": "6379", "REDIS_PASSWORD": "p",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if !c.Alert.Slack.Enable || c.Alert.Slack.Token != "xoxb-1" || c.Alert.Slack.ChannelID != "C123" ||
		c.Alert.Slack.MessageProperties.ButtonText != "Acknowledge Incident" {
		t.Fatalf("slack: %+v", c.Alert.Slack)
	}
	if !c.OnCall.InitializedOnly || *c.OnCall.WaitMinutes != 2 || c.OnCall.AWSIncidentManager.OtherResponsePlanARNs["app"] == "" {
		t.Fatalf("oncall: %+v", c.OnCall)
	}
	if len(res.Unused) != 1 || !strings.HasPrefix(res.Unused[0], "redis") {
		t.Fatalf("unused: %v", res.Unused)
	}
}

func TestProblemsNameKeyPaths(t *testing.T) {
	_, err := Parse([]byte(`
port: "abc"
alert:
  slack:
    enable: true
    tokn: x
  email:
    enable: true
    smtp_port: 99999
incidents:
  renotify_after: soon
  impact: {critical: 9}
bogus: 1
`), env(nil))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`alert.slack.tokn: unknown key (line 6); did you mean "token"?`,
		"bogus: unknown key",
		`port: "abc" is not a valid integer (line 2)`,
		`incidents.renotify_after: "soon" is not a valid duration`,
		"alert.slack.token: required",
		"alert.slack.channel_id: required",
		"alert.email.smtp_host: required",
		"incidents.impact.critical: 9 is not an impact",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q in:\n%s", want, msg)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	res, err := Parse([]byte("port: 1\noncall: {pagerduty: {routing_key: rk}}\n"), env(map[string]string{
		"ONCALL_PROVIDER": "pagerduty",
		"TOCSIN_ADDR":     "127.0.0.1:8080", "TOCSIN_DATABASE_URL": "postgres://x/y", "TOCSIN_API_TOKEN": "a", "TOCSIN_INGEST_TOKEN": "i",
		"SLACK_ENABLE": "false", "ONCALL_ENABLE": "true", "ONCALL_WAIT_MINUTES": "0.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.Host != "127.0.0.1" || c.Port != 8080 || c.DatabaseURL() != "postgres://x/y" || c.API.Tokens[0] != "a" || c.Ingest.Tokens[0] != "i" || !c.OnCall.Enable || c.OnCallProvider() != "pagerduty" || c.OnCallWait() != 30*time.Second {
		t.Fatalf("env: %+v", c)
	}
	if _, err := Parse(nil, env(map[string]string{"SLACK_ENABLE": "maybe"})); err == nil || !strings.Contains(err.Error(), "SLACK_ENABLE") {
		t.Fatalf("bad env bool: %v", err)
	}
}

func TestExpansion(t *testing.T) {
	res, err := Parse([]byte("public_host: ${HOST:-http://localhost:3000}\nincidents:\n  renotify_after: ${RN}\n  ack_link_ttl: 2h\ngateway_secret: a$b\n"), env(map[string]string{"RN": "15m"}))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.PublicHost != "http://localhost:3000" || c.Incidents.RenotifyAfter.Std() != 15*time.Minute || c.GatewaySecret != "a$b" || c.Incidents.AckLinkTTL.Std() != 2*time.Hour {
		t.Fatalf("expansion: %+v", c)
	}
}

func TestStorageMapping(t *testing.T) {
	res, err := Parse([]byte("storage:\n  type: postgres\n  postgres:\n    dsn: postgres://db/x\n"), env(nil))
	if err != nil || res.Config.DatabaseURL() != "postgres://db/x" {
		t.Fatalf("%v %v", err, res)
	}
	if _, err := Parse([]byte("storage:\n  type: redis\n"), env(nil)); err == nil {
		t.Fatal("storage.type redis accepted")
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/versus.yaml")
	f.Add(b)
	f.Add([]byte("port: 3000\nalert: {slack: {enable: true}}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("incidents:\n  renotify_after: ${X:-5m}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Parse(data, env(map[string]string{"X": "1m"}))
		if err == nil && res.Config == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

func TestWebhookAllowedNetworksValidated(t *testing.T) {
	res, err := Parse([]byte("paging:\n  webhook_allowed_networks: [10.0.0.0/8, \"fd00::/8\"]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Config.Paging.WebhookAllowedNetworks; len(got) != 2 || got[1] != "fd00::/8" {
		t.Fatalf("webhook_allowed_networks: %v", got)
	}
	_, err = Parse([]byte("paging:\n  webhook_allowed_networks: [10.0.0.0/8, 10.0.0.1, everything]\n"), env(nil))
	if err == nil {
		t.Fatal("bad networks accepted")
	}
	for _, want := range []string{`paging.webhook_allowed_networks[1]: "10.0.0.1" is not a network in CIDR notation`,
		`paging.webhook_allowed_networks[2]: "everything"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
}

func TestAWSAPIValidated(t *testing.T) {
	res, err := Parse([]byte("aws_api:\n  path_prefix: /aws/ssm-incidents\n  credentials:\n    - {access_key_id: AKIATOCSINEXAMPLE1, secret_access_key: s3cr3t-s3cr3t-s3cr3t}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Config.AWSAPI.Credentials; len(got) != 1 || got[0].AccessKeyID != "AKIATOCSINEXAMPLE1" {
		t.Fatalf("aws_api.credentials: %+v", got)
	}
	_, err = Parse([]byte("aws_api:\n  path_prefix: aws/\n  account_id: x\n  credentials:\n    - {access_key_id: short, secret_access_key: leaked-secret-value-1}\n"+
		"    - {access_key_id: AKIATOCSINEXAMPLE1, secret_access_key: \"\"}\n"), env(nil))
	if err == nil {
		t.Fatal("bad aws_api accepted")
	}
	for _, want := range []string{`aws_api.path_prefix: "aws/" must start with '/'`, `aws_api.account_id: "x" is not 12 digits`,
		`aws_api.credentials[0].access_key_id: "short" is not 16-128 letters and digits`,
		`aws_api.credentials[1].secret_access_key: required`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "leaked-secret-value-1") {
		t.Errorf("a secret is echoed:\n%v", err)
	}
}

func TestIngestPace(t *testing.T) {
	res, err := Parse([]byte("ingest:\n  pace:\n    backlog: 0\n    max_wait: 1s\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Config.Ingest.Pace; p.Backlog == nil || *p.Backlog != 0 || p.MaxWait.Std() != time.Second {
		t.Fatalf("ingest.pace: %+v", p)
	}
	res, err = Parse([]byte("ingest: {}\n"), env(nil))
	if err != nil || res.Config.Ingest.Pace.Backlog != nil {
		t.Fatalf("unset ingest.pace.backlog: %v %v", res.Config.Ingest.Pace.Backlog, err)
	}
	_, err = Parse([]byte("ingest:\n  pace:\n    backlog: -1\n    max_wait: 1m\n"), env(nil))
	for _, want := range []string{"ingest.pace.backlog: -1 must not be negative", "ingest.pace.max_wait: 1m0s must be between 0 and 10s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in: %v", want, err)
		}
	}
}
