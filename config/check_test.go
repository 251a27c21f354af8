package config

import (
	"strings"
	"testing"
)

func TestEmptyAlternatesAreAbsentWithAWarning(t *testing.T) {
	res, err := Parse([]byte(`
alert:
  msteams:
    enable: true
    power_automate_url: https://prod.example.com/flow
    other_power_urls: {qc: "${MSTEAMS_OTHER_POWER_URL_QC}", ops: https://ops.example.com/flow}
  lark:
    enable: true
    webhook_url: https://open.larksuite.com/hook/x
    other_webhook_urls: {dev: "${LARK_OTHER_WEBHOOK_URL_DEV}", prod: ""}
  telegram:
    enable: false
    bot_token: x
oncall:
  enable: true
  aws_incident_manager:
    response_plan_arn: arn:aws:ssm-incidents::123456789012:response-plan/main
    other_response_plan_arns: {infra: "", app: arn:aws:ssm-incidents::123456789012:response-plan/app, db: "${DB_PLAN}"}
  pagerduty:
    other_routing_keys: {infra: ""}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if _, ok := c.Alert.MSTeams.OtherPowerURLs["qc"]; ok || c.Alert.MSTeams.OtherPowerURLs["ops"] == "" {
		t.Fatalf("msteams alternates: %v", c.Alert.MSTeams.OtherPowerURLs)
	}
	if len(c.Alert.Lark.OtherWebhookURLs) != 0 || len(c.OnCall.AWSIncidentManager.OtherResponsePlanARNs) != 1 {
		t.Fatalf("alternates kept: %v %v", c.Alert.Lark.OtherWebhookURLs, c.OnCall.AWSIncidentManager.OtherResponsePlanARNs)
	}
	got := strings.Join(res.Warnings, "\n")
	for _, want := range []string{
		"alert.msteams.other_power_urls.qc: empty, ignored",
		"alert.lark.other_webhook_urls.dev: empty, ignored",
		"alert.lark.other_webhook_urls.prod: empty, ignored",
		"oncall.aws_incident_manager.other_response_plan_arns.db: empty, ignored",
		"oncall.aws_incident_manager.other_response_plan_arns.infra: empty, ignored",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing warning %q in:\n%s", want, got)
		}
	}
	// pagerduty is not the provider in use: its empty alternate is dropped quietly.
	if strings.Contains(got, "pagerduty") || len(c.OnCall.PagerDuty.OtherRoutingKeys) != 0 {
		t.Errorf("warned about an unused provider: %s %v", got, c.OnCall.PagerDuty.OtherRoutingKeys)
	}
}

func TestEnabledChannelsNeedTheirKeys(t *testing.T) {
	_, err := Parse([]byte(`
alert:
  telegram: {enable: true}
  viber: {enable: true, api_type: bot}
  msteams: {enable: true}
  lark: {enable: true}
`), env(nil))
	if err == nil {
		t.Fatal("channels without keys accepted")
	}
	for _, want := range []string{
		"alert.telegram.bot_token: required when alert.telegram.enable is true",
		"alert.telegram.chat_id: required when alert.telegram.enable is true",
		"alert.viber.bot_token: required when alert.viber.enable is true",
		"alert.viber.user_id: required when alert.viber.api_type is bot",
		"alert.msteams.power_automate_url: required when alert.msteams.enable is true",
		"alert.lark.webhook_url: required when alert.lark.enable is true",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("alert: {viber: {enable: true, bot_token: t, api_type: group}}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), `alert.viber.api_type: "group" is not channel or bot`) {
		t.Errorf("bad api_type: %v", err)
	}
}

func TestStartUpWarnings(t *testing.T) {
	res, err := Parse([]byte("ingest:\n  open: true\n  cloudwatch: {skip_signature: true}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(res.Warnings, "\n")
	if !strings.Contains(got, "ingest.cloudwatch.skip_signature is true") || !strings.Contains(got, "ingest.open is true") {
		t.Fatalf("warnings: %q", res.Warnings)
	}
}

func TestProblemsKeepTheResult(t *testing.T) {
	res, err := Parse([]byte("alert: {slack: {enable: true}, telegram: {enable: true, bot_token: b, chat_id: c}}\n"), env(nil))
	if err == nil || res == nil || !res.Config.Alert.Telegram.Enable {
		t.Fatalf("a file with problems gives its result for further checks: %v %v", res, err)
	}
	if res, err := Parse([]byte("a: [\n"), env(nil)); err == nil || res != nil {
		t.Fatalf("invalid YAML: %v %v", res, err)
	}
}
