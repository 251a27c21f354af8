package tocsin

import (
	"strings"
	"testing"
	"time"
)

func validPlan() *ResponsePlan {
	return &ResponsePlan{
		Name: "EC2HighCPU",
		IncidentTemplate: IncidentTemplate{Title: "cpu-incident-1 {{ .labels.instance }}", Impact: ImpactMedium,
			Tags: map[string]string{"service": "{{ .labels.service }}"}},
		Engagements:  []ResponseEngagement{{EscalationPlan: "app-escalation", Delay: Duration(2 * time.Minute)}},
		ChatChannels: []ChatChannel{{Channel: "slack", Destination: "C123"}},
		Runbook: &RunbookRef{Name: "ec2-cpu-util-runbook", Parameters: map[string][]string{"InstanceId": {"i-1"}},
			DynamicParameters: map[string]string{"IncidentArn": "INCIDENT_RECORD_ARN", "Service": "LABEL:service"}},
	}
}

func TestResponsePlanValidate(t *testing.T) {
	if err := validPlan().Validate(); err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(p *ResponsePlan)
		want   string
	}{
		{"name", func(p *ResponsePlan) { p.Name = "EC2 High CPU" }, `name: "EC2 High CPU" must be 1-200 letters, digits, '-' or '_'`},
		{"no name", func(p *ResponsePlan) { p.Name = "" }, `name: "" must be`},
		{"title", func(p *ResponsePlan) { p.IncidentTemplate.Title = " " }, "incident_template.title: required"},
		{"impact", func(p *ResponsePlan) { p.IncidentTemplate.Impact = 6 }, "incident_template.impact: 6 is not between 1 (critical) and 5 (no impact)"},
		{"negative impact", func(p *ResponsePlan) { p.IncidentTemplate.Impact = -1 }, "incident_template.impact: -1"},
		{"title template", func(p *ResponsePlan) { p.IncidentTemplate.Title = "{{ .labels.instance " }, "incident_template.title: does not parse: template: title:1: unclosed action"},
		{"unknown function", func(p *ResponsePlan) { p.IncidentTemplate.Summary = "{{ .title | shout }}" }, `incident_template.summary: does not parse: template: summary:1: function "shout" not defined`},
		{"dedupe template", func(p *ResponsePlan) { p.IncidentTemplate.DedupeString = "{{ end }}" }, "incident_template.dedupe_string: does not parse"},
		{"tag template", func(p *ResponsePlan) { p.IncidentTemplate.Tags["service"] = "{{" }, "incident_template.tags.service: does not parse"},
		{"long title", func(p *ResponsePlan) { p.IncidentTemplate.Title = strings.Repeat("x", 201) }, "incident_template.title: longer than 200 characters"},
		{"webhook", func(p *ResponsePlan) {
			p.IncidentTemplate.NotificationTargets = []NotificationTarget{{Webhook: "ftp://x?token=hunter2", Secret: "s3cret"}}
		}, "incident_template.notification_targets[0].webhook: not an http(s) URL"},
		{"two targets", func(p *ResponsePlan) { p.Engagements[0].Schedule = "app" }, "engagements[0]: exactly one of escalation_plan, schedule, contact, contact_group is required"},
		{"no target", func(p *ResponsePlan) { p.Engagements = append(p.Engagements, ResponseEngagement{}) }, "engagements[1]: exactly one of"},
		{"target name", func(p *ResponsePlan) { p.Engagements[0].EscalationPlan = "Platform-Tiered-Escalation" }, `engagements[0].escalation_plan: "Platform-Tiered-Escalation" must be 1-63 lower-case`},
		{"delay", func(p *ResponsePlan) { p.Engagements[0].Delay = Duration(25 * time.Hour) }, "engagements[0].delay: 25h0m0s is not between 0 and 24h0m0s"},
		{"channel", func(p *ResponsePlan) { p.ChatChannels[0].Channel = "discord" }, `chat_channels[0].channel: "discord" is not one of slack, telegram, msteams, lark, email, webhook, viber`},
		{"replace without destination", func(p *ResponsePlan) { p.ChatChannels[0] = ChatChannel{Channel: "slack", ReplaceDefaults: true} }, "chat_channels[0].replace_defaults: needs a destination"},
		{"email destination", func(p *ResponsePlan) { p.ChatChannels[0] = ChatChannel{Channel: "email", Destination: "oncall"} }, `chat_channels[0].destination: "oncall" is not an email address`},
		{"runbook name", func(p *ResponsePlan) { p.Runbook.Name = "x" }, `runbook.name: "x" must be 3-128`},
		{"runbook value", func(p *ResponsePlan) { p.Runbook.Parameters["InstanceId"] = []string{strings.Repeat("i", 513)} }, "runbook.parameters.InstanceId[0]: longer than 512 characters"},
		{"dynamic variable", func(p *ResponsePlan) { p.Runbook.DynamicParameters = map[string]string{"Arn": "INCIDENT_ARN"} }, `runbook.dynamic_parameters.Arn: "INCIDENT_ARN" is not INCIDENT_RECORD_ARN`},
		{"dynamic label", func(p *ResponsePlan) { p.Runbook.DynamicParameters = map[string]string{"Svc": "LABEL: "} }, `runbook.dynamic_parameters.Svc: "LABEL: " is not`},
		{"dynamic twice", func(p *ResponsePlan) { p.Runbook.DynamicParameters = map[string]string{"InstanceId": "INCIDENT_ID"} }, "runbook.dynamic_parameters.InstanceId: is also given in runbook.parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPlan()
			tc.change(p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code %q, want EINVALID", ErrorCode(err))
			}
			for _, secret := range []string{"hunter2", "s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestResponsePlanReferences(t *testing.T) {
	p := validPlan()
	p.Engagements = append(p.Engagements, ResponseEngagement{Contact: "natsu"}, ResponseEngagement{Schedule: "nope"})
	err := p.CheckPlanReferences(map[string]bool{"app-escalation": true}, map[string]bool{"app": true}, map[string]bool{"natsu": true}, nil)
	if err == nil || ErrorMessage(err) != `response plan EC2HighCPU: engagements[2].schedule: "nope" does not exist` {
		t.Fatalf("CheckPlanReferences = %v", err)
	}
}
