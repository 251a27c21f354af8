package ingest_test

import (
	"bytes"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

const alarmArn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-api-5xx"

func TestCloudWatchAlarmThenOK(t *testing.T) {
	body := readFile(t, "cloudwatch_alarm.json")
	a := decodeOK(t, ingest.CloudWatchAlarm, tocsin.SourceCloudWatch, body)[0]
	if a.DedupKey != alarmArn || a.Fingerprint != alarmArn {
		t.Errorf("DedupKey, Fingerprint = %q, %q", a.DedupKey, a.Fingerprint)
	}
	if a.Status != tocsin.AlertFiring || a.Severity != "" || a.Title != "prod-api-5xx" {
		t.Errorf("Status %q Severity %q Title %q", a.Status, a.Severity, a.Title)
	}
	if a.Description != "More than 10 5xx responses a minute on the prod API load balancer" {
		t.Errorf("Description = %q", a.Description)
	}
	if !a.StartsAt.Equal(mustTime(t, "2024-05-01T10:00:12.345Z")) || !a.EndsAt.IsZero() {
		t.Errorf("StartsAt, EndsAt = %v, %v", a.StartsAt, a.EndsAt)
	}
	wantLabels := map[string]string{
		"alarm_name":   "prod-api-5xx",
		"account_id":   "123456789012",
		"region":       "us-east-1",
		"namespace":    "AWS/ApplicationELB",
		"metric_name":  "HTTPCode_Target_5XX_Count",
		"LoadBalancer": "app/prod-api/50dc6c495c0c9188",
	}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("Labels[%q] = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Annotations["new_state"] != "ALARM" || a.Annotations["old_state"] != "OK" || a.Annotations["state_reason"] == "" {
		t.Errorf("Annotations = %v", a.Annotations)
	}
	const console = "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/prod-api-5xx"
	if got := link(t, a, "CloudWatch"); got != console {
		t.Errorf("console link = %q", got)
	}
	if !bytes.Equal(a.Raw, bytes.TrimSpace(body)) {
		t.Error("Raw is not the alarm")
	}

	ok := decodeOK(t, ingest.CloudWatchAlarm, tocsin.SourceCloudWatch, readFile(t, "cloudwatch_ok.json"))[0]
	if ok.Status != tocsin.AlertResolved || ok.DedupKey != a.DedupKey || ok.Fingerprint != a.Fingerprint {
		t.Errorf("OK alert %+v does not resolve %+v", ok, a)
	}
	if !ok.EndsAt.Equal(mustTime(t, "2024-05-01T10:20:12.345Z")) || !ok.StartsAt.IsZero() {
		t.Errorf("StartsAt, EndsAt = %v, %v", ok.StartsAt, ok.EndsAt)
	}
}

func TestCloudWatchVariants(t *testing.T) {
	tests := []struct {
		name, body                      string
		dedup, status, severity, region string
		console                         string
	}{
		{
			name:     "insufficient data",
			body:     `{"AlarmName":"a","AlarmArn":"arn:aws:cloudwatch:eu-west-1:1:alarm:a","NewStateValue":"INSUFFICIENT_DATA"}`,
			dedup:    "arn:aws:cloudwatch:eu-west-1:1:alarm:a",
			status:   tocsin.AlertFiring,
			severity: "warning",
			region:   "eu-west-1",
			console:  "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/a",
		},
		{
			name:    "no arn, region code",
			body:    `{"AlarmName":"disk full/db 1","AWSAccountId":"42","Region":"eu-central-1","NewStateValue":"ALARM"}`,
			dedup:   "42/eu-central-1/disk full/db 1",
			status:  tocsin.AlertFiring,
			region:  "eu-central-1",
			console: "https://console.aws.amazon.com/cloudwatch/home?region=eu-central-1#alarmsV2:alarm/disk%20full%2Fdb%201",
		},
		{
			name:   "no arn, display region",
			body:   `{"AlarmName":"x","AWSAccountId":42,"Region":"EU (Ireland)","NewStateValue":"ok"}`,
			dedup:  "42/EU (Ireland)/x",
			status: tocsin.AlertResolved,
		},
		{
			name:    "china",
			body:    `{"AlarmName":"x","AlarmArn":"arn:aws-cn:cloudwatch:cn-north-1:1:alarm:x","Region":"China (Beijing)"}`,
			dedup:   "arn:aws-cn:cloudwatch:cn-north-1:1:alarm:x",
			status:  tocsin.AlertFiring,
			region:  "cn-north-1",
			console: "https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#alarmsV2:alarm/x",
		},
		{
			name:    "govcloud",
			body:    `{"AlarmName":"x","AlarmArn":"arn:aws-us-gov:cloudwatch:us-gov-west-1:1:alarm:x"}`,
			dedup:   "arn:aws-us-gov:cloudwatch:us-gov-west-1:1:alarm:x",
			status:  tocsin.AlertFiring,
			region:  "us-gov-west-1",
			console: "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#alarmsV2:alarm/x",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeOK(t, ingest.CloudWatchAlarm, tocsin.SourceCloudWatch, []byte(tc.body))[0]
			if a.DedupKey != tc.dedup || a.Status != tc.status || a.Severity != tc.severity || a.Labels["region"] != tc.region {
				t.Errorf("got dedup %q status %q severity %q region %q", a.DedupKey, a.Status, a.Severity, a.Labels["region"])
			}
			if tc.console == "" {
				if len(a.Links) != 0 {
					t.Errorf("Links = %+v, want none without a region code", a.Links)
				}
			} else if got := link(t, a, "CloudWatch"); got != tc.console {
				t.Errorf("console link = %q, want %q", got, tc.console)
			}
		})
	}
}

func TestCloudWatchThroughSNS(t *testing.T) {
	m, err := ingest.ParseSNS(readFile(t, "sns_notification.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := decodeOK(t, ingest.CloudWatchAlarm, tocsin.SourceCloudWatch, []byte(m.Message))[0]
	if a.DedupKey != alarmArn || a.Status != tocsin.AlertFiring {
		t.Errorf("alert %+v", a)
	}
}

func TestCloudWatchErrors(t *testing.T) {
	runErrorCases(t, ingest.CloudWatchAlarm, append(commonErrors,
		errorCase{"array", `[{"AlarmName":"x"}]`, `cloudwatch: body must be a JSON object`},
		errorCase{"no name", `{"AlarmArn":"arn:aws:cloudwatch:us-east-1:1:alarm:x"}`, `cloudwatch: "AlarmName" is required`},
		errorCase{"blank name", `{"AlarmName":"  "}`, `cloudwatch: "AlarmName" is required`},
		errorCase{"trigger string", `{"AlarmName":"x","Trigger":"y"}`, `cloudwatch: "Trigger" must be an object`},
		errorCase{"dimensions object", `{"AlarmName":"x","Trigger":{"Dimensions":{}}}`, `cloudwatch: "Trigger.Dimensions" must be an array`},
	))
}
